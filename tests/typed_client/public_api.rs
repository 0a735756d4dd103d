//! The public API snapshot: every hand-written public item of the library (`pub` functions,
//! methods of inherent impls, structs and their public fields, enums and variants, traits,
//! constants, type aliases, re-exports), one line each, read out of `src/` with `syn` and
//! compared with the committed `tests/snapshots/public_api.txt`. A change to the public API is
//! then a visible diff in review. `UPDATE_SNAPSHOTS=1` rewrites the file. An item built only
//! with a Cargo feature ends in `[feature …]`, so moving an item between features shows too.
//!
//! Not covered: the generated client (`Client`'s builders and `types`, which follow the spec and
//! are reviewed through `spec/operations.txt`) and items a `macro_rules!` expands to.

use quote::ToTokens;
use std::path::{Path, PathBuf};

const SNAPSHOT: &str = "tests/snapshots/public_api.txt";

#[test]
fn the_public_api_matches_its_snapshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut lines = Vec::new();
    let crate_root = Scope {
        module: "vtmcp".into(),
        public: true,
        feature: None,
        only: None,
    };
    walk_file(&root.join("src/lib.rs"), &crate_root, &mut lines);
    lines.sort();
    lines.dedup();
    let actual = lines.join("\n") + "\n";
    let path = root.join(SNAPSHOT);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return;
    }
    let old: std::collections::BTreeSet<&str> = expected.lines().collect();
    let new: std::collections::BTreeSet<&str> = actual.lines().collect();
    let mut diff = String::new();
    for gone in old.difference(&new) {
        diff.push_str(&format!("- {gone}\n"));
    }
    for added in new.difference(&old) {
        diff.push_str(&format!("+ {added}\n"));
    }
    panic!(
        "the public API changed ({SNAPSHOT}):\n{diff}\nIf that is intended, run \
         `UPDATE_SNAPSHOTS=1 cargo test --test typed_client public_api` and commit the file."
    );
}

/// Where the walk is: the module path items are recorded under, whether that module is
/// reachable, the feature gating it (`#[cfg(feature = "…")]` on it or an enclosing module),
/// and, for a private module whose items the parent re-exports (`mod settings;` with
/// `pub use settings::ClientBuilder;`), the names re-exported, which are recorded under the
/// parent's path as users reach them.
#[derive(Clone)]
struct Scope<'a> {
    module: String,
    public: bool,
    feature: Option<String>,
    only: Option<&'a std::collections::BTreeSet<String>>,
}

/// Reads the module file `file`, recording its public items when the module itself is
/// reachable, and the public methods of inherent impls in any case (a private module's
/// `impl Client { pub fn … }` is public API).
fn walk_file(file: &Path, scope: &Scope, out: &mut Vec<String>) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let dir = if file.ends_with("mod.rs") || file.ends_with("lib.rs") {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    walk_items(&parsed.items, &dir, scope, out);
}

fn walk_items(items: &[syn::Item], dir: &Path, scope: &Scope, out: &mut Vec<String>) {
    for item in items {
        let attrs = attrs_of(item);
        if excluded(attrs) {
            continue;
        }
        let feature = feature_of(attrs).or_else(|| scope.feature.clone());
        let start = out.len();
        match item {
            syn::Item::Mod(m) => {
                let name = m.ident.to_string();
                let reexported = reexports_of(items, &name);
                let inner = if is_public(&m.vis) || reexported.is_empty() {
                    Scope {
                        module: format!("{}::{name}", scope.module),
                        public: scope.public && is_public(&m.vis),
                        feature,
                        only: None,
                    }
                } else {
                    Scope {
                        module: scope.module.clone(),
                        public: scope.public,
                        feature,
                        only: Some(&reexported),
                    }
                };
                match &m.content {
                    Some((_, content)) => walk_items(content, &dir.join(&name), &inner, out),
                    None => walk_file(&module_file(dir, &name, &m.attrs), &inner, out),
                }
                continue;
            }
            syn::Item::Impl(imp) if imp.trait_.is_none() => {
                let ty = tidy(imp.self_ty.to_token_stream());
                for it in &imp.items {
                    if let syn::ImplItem::Fn(f) = it
                        && is_public(&f.vis)
                        && !excluded(&f.attrs)
                    {
                        let gate = feature_of(&f.attrs).or_else(|| feature.clone());
                        out.push(format!("impl {ty} {{ {} }}{}", sig(&f.sig), suffix(&gate)));
                    }
                    if let syn::ImplItem::Const(c) = it
                        && is_public(&c.vis)
                    {
                        out.push(format!(
                            "impl {ty} {{ const {}: {} }}{}",
                            c.ident,
                            tidy(c.ty.to_token_stream()),
                            suffix(&feature)
                        ));
                    }
                }
                continue;
            }
            _ if scope.public
                && scope
                    .only
                    .is_none_or(|only| ident_of(item).is_some_and(|i| only.contains(&i))) =>
            {
                describe(item, &scope.module, out)
            }
            _ => {}
        }
        for line in &mut out[start..] {
            line.push_str(&suffix(&feature));
        }
    }
}

/// ` [feature x]` for an item only built with feature `x`.
fn suffix(feature: &Option<String>) -> String {
    feature
        .as_ref()
        .map(|f| format!(" [feature {f}]"))
        .unwrap_or_default()
}

/// The feature of `#[cfg(feature = "x")]` among `attrs`.
fn feature_of(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| {
        let text = tidy(a.to_token_stream());
        let rest = text.strip_prefix("#[cfg(feature = \"")?;
        Some(rest.strip_suffix("\")]")?.to_string())
    })
}

/// The names the module (`items`) re-exports from its child module `child`.
fn reexports_of(items: &[syn::Item], child: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for item in items {
        if let syn::Item::Use(u) = item
            && is_public(&u.vis)
        {
            let mut paths = Vec::new();
            use_paths(&u.tree, String::new(), &mut paths);
            for p in paths {
                if let Some(name) = p.strip_prefix(&format!("{child}::"))
                    && !name.contains("::")
                {
                    names.insert(name.split(" as ").next().unwrap_or(name).to_string());
                }
            }
        }
    }
    names
}

fn ident_of(item: &syn::Item) -> Option<String> {
    let ident = match item {
        syn::Item::Const(i) => &i.ident,
        syn::Item::Enum(i) => &i.ident,
        syn::Item::Fn(i) => &i.sig.ident,
        syn::Item::Static(i) => &i.ident,
        syn::Item::Struct(i) => &i.ident,
        syn::Item::Trait(i) => &i.ident,
        syn::Item::Type(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}

/// The file of `mod name;` declared in a module whose own files live in `dir`.
fn module_file(dir: &Path, name: &str, attrs: &[syn::Attribute]) -> PathBuf {
    for a in attrs {
        if a.path().is_ident("path")
            && let syn::Meta::NameValue(nv) = &a.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            return dir.parent().unwrap_or(dir).join(s.value());
        }
    }
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

fn describe(item: &syn::Item, module: &str, out: &mut Vec<String>) {
    match item {
        syn::Item::Fn(f) if is_public(&f.vis) => out.push(format!("{module}::{}", sig(&f.sig))),
        syn::Item::Struct(s) if is_public(&s.vis) => {
            out.push(format!(
                "{module}::struct {}{}",
                s.ident,
                tidy(s.generics.to_token_stream())
            ));
            for f in &s.fields {
                if is_public(&f.vis)
                    && let Some(name) = &f.ident
                {
                    out.push(format!(
                        "{module}::{}.{name}: {}",
                        s.ident,
                        tidy(f.ty.to_token_stream())
                    ));
                }
            }
            if let syn::Fields::Unnamed(u) = &s.fields
                && u.unnamed.iter().any(|f| is_public(&f.vis))
            {
                out.push(format!(
                    "{module}::{}{}",
                    s.ident,
                    tidy(u.to_token_stream())
                ));
            }
        }
        syn::Item::Enum(e) if is_public(&e.vis) => {
            out.push(format!(
                "{module}::enum {}{}",
                e.ident,
                tidy(e.generics.to_token_stream())
            ));
            for v in &e.variants {
                let fields = match &v.fields {
                    syn::Fields::Unit => String::new(),
                    syn::Fields::Unnamed(u) => tidy(u.to_token_stream()),
                    syn::Fields::Named(n) => {
                        let names: Vec<String> = n
                            .named
                            .iter()
                            .map(|f| {
                                format!(
                                    "{}: {}",
                                    f.ident.as_ref().unwrap(),
                                    tidy(f.ty.to_token_stream())
                                )
                            })
                            .collect();
                        format!(" {{ {} }}", names.join(", "))
                    }
                };
                out.push(format!("{module}::{}::{}{fields}", e.ident, v.ident));
            }
        }
        syn::Item::Trait(t) if is_public(&t.vis) => {
            out.push(format!(
                "{module}::trait {}{}",
                t.ident,
                tidy(t.generics.to_token_stream())
            ));
            for it in &t.items {
                match it {
                    syn::TraitItem::Fn(f) => {
                        out.push(format!("{module}::{} {{ {} }}", t.ident, sig(&f.sig)))
                    }
                    syn::TraitItem::Type(ty) => {
                        out.push(format!("{module}::{} {{ type {} }}", t.ident, ty.ident))
                    }
                    _ => {}
                }
            }
        }
        syn::Item::Const(c) if is_public(&c.vis) => out.push(format!(
            "{module}::const {}: {}",
            c.ident,
            tidy(c.ty.to_token_stream())
        )),
        syn::Item::Static(s) if is_public(&s.vis) => out.push(format!(
            "{module}::static {}: {}",
            s.ident,
            tidy(s.ty.to_token_stream())
        )),
        syn::Item::Type(t) if is_public(&t.vis) => out.push(format!(
            "{module}::type {}{} = {}",
            t.ident,
            tidy(t.generics.to_token_stream()),
            tidy(t.ty.to_token_stream())
        )),
        syn::Item::Use(u) if is_public(&u.vis) => {
            let mut paths = Vec::new();
            use_paths(&u.tree, String::new(), &mut paths);
            for p in paths {
                out.push(format!("{module}::use {p}"));
            }
        }
        syn::Item::Macro(m)
            if m.attrs.iter().any(|a| a.path().is_ident("macro_export"))
                && let Some(name) = &m.ident =>
        {
            out.push(format!("vtmcp::macro {name}!"))
        }
        _ => {}
    }
}

fn use_paths(tree: &syn::UseTree, prefix: String, out: &mut Vec<String>) {
    match tree {
        syn::UseTree::Path(p) => use_paths(&p.tree, format!("{prefix}{}::", p.ident), out),
        syn::UseTree::Name(n) => out.push(format!("{prefix}{}", n.ident)),
        syn::UseTree::Rename(r) => out.push(format!("{prefix}{} as {}", r.ident, r.rename)),
        syn::UseTree::Glob(_) => out.push(format!("{prefix}*")),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_paths(t, prefix.clone(), out);
            }
        }
    }
}

fn sig(s: &syn::Signature) -> String {
    tidy(s.to_token_stream())
}

fn is_public(v: &syn::Visibility) -> bool {
    matches!(v, syn::Visibility::Public(_))
}

/// `#[cfg(test)]` and `#[doc(hidden)]` items are not public API.
fn excluded(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let text = tidy(a.to_token_stream());
        text == "#[cfg(test)]" || text == "#[doc(hidden)]"
    })
}

fn attrs_of(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// Token text with the spaces `TokenStream`'s `Display` puts around punctuation taken out.
fn tidy(tokens: proc_macro2::TokenStream) -> String {
    let mut s = tokens.to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("( ", "("),
        (" )", ")"),
        (" : ", ": "),
        ("& ", "&"),
        ("# [", "#["),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
        (" (", "("),
        (" !", "!"),
    ] {
        s = s.replace(from, to);
    }
    s = s.replace("(mut self", "(self");
    while s.contains("  ") {
        s = s.replace("  ", " ");
    }
    s
}
