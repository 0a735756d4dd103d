fn main() {
    for op in vtmcp::ops::OPERATIONS {
        println!("{} {} {}", op.id, op.method, op.path);
    }
}
