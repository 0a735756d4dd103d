// Values of `x-vt-tier` (key tiers and licences), from the most to the least widely available.
// The one list: the server (`--tier`, `vtmcp::mcp::catalog::TIERS`) and xtask (`spec check`,
// COVERAGE.md order) both `include!` this file.
&[
    "public",
    "premium",
    "threat-landscape",
    "private-scanning",
    "feeds",
    "monitor",
    "monitor-partner",
    "admin",
    "gti",
]
