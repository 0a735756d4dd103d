//! The hand-written ("composite") MCP tools and the VirusTotal endpoints each one calls.
//!
//! KEEP IN SYNC WITH `src/mcp`: this list is written by hand from the composite tools'
//! implementation. When a composite tool is added, removed or starts calling another endpoint,
//! update [`COMPOSITE_TOOLS`] and run `cargo xtask codegen` (COVERAGE.md and the README list
//! them). A test checks that every endpoint named here exists in the spec.

/// A composite MCP tool.
pub struct CompositeTool {
    /// The MCP tool name.
    pub name: &'static str,
    /// What it does, in a few words.
    pub purpose: &'static str,
    /// `(METHOD, path)` of every endpoint it may call, as written in the spec.
    pub endpoints: &'static [(&'static str, &'static str)],
}

/// Every composite tool. KEEP IN SYNC WITH `src/mcp`.
pub const COMPOSITE_TOOLS: &[CompositeTool] = &[
    CompositeTool {
        name: "get_file_report",
        purpose: "file report with embedded relationships (`?relationships=`); at full depth, each relationship fetched",
        endpoints: &[
            ("GET", "/files/{id}"),
            ("GET", "/files/{id}/{relationship}"),
        ],
    },
    CompositeTool {
        name: "get_url_report",
        purpose: "URL report with its relationships",
        endpoints: &[("GET", "/urls/{id}"), ("GET", "/urls/{id}/{relationship}")],
    },
    CompositeTool {
        name: "get_domain_report",
        purpose: "domain report with its relationships",
        endpoints: &[
            ("GET", "/domains/{domain}"),
            ("GET", "/domains/{domain}/{relationship}"),
        ],
    },
    CompositeTool {
        name: "get_ip_report",
        purpose: "IP address report with its relationships",
        endpoints: &[
            ("GET", "/ip_addresses/{ip}"),
            ("GET", "/ip_addresses/{ip}/{relationship}"),
        ],
    },
    CompositeTool {
        name: "get_file_relationship",
        purpose: "objects related to a file through one relationship",
        endpoints: &[("GET", "/files/{id}/{relationship}")],
    },
    CompositeTool {
        name: "get_url_relationship",
        purpose: "objects related to a URL through one relationship",
        endpoints: &[("GET", "/urls/{id}/{relationship}")],
    },
    CompositeTool {
        name: "get_domain_relationship",
        purpose: "objects related to a domain through one relationship",
        endpoints: &[("GET", "/domains/{domain}/{relationship}")],
    },
    CompositeTool {
        name: "get_ip_relationship",
        purpose: "objects related to an IP address through one relationship",
        endpoints: &[("GET", "/ip_addresses/{ip}/{relationship}")],
    },
    CompositeTool {
        name: "scan_url",
        purpose: "submits a URL and polls its analysis",
        endpoints: &[
            ("POST", "/urls"),
            ("GET", "/analyses/{id}"),
            ("GET", "/urls/{id}"),
        ],
    },
    CompositeTool {
        name: "scan_file",
        purpose: "uploads a local file (through an upload URL above 32 MB) and polls its analysis",
        endpoints: &[
            ("GET", "/files/{id}"),
            ("POST", "/files"),
            ("GET", "/files/upload_url"),
            ("GET", "/analyses/{id}"),
        ],
    },
    CompositeTool {
        name: "get_threat_actor",
        purpose: "one threat actor (a collection of that type)",
        endpoints: &[
            ("GET", "/collections/{id}"),
            ("GET", "/collections"),
            ("GET", "/threat_actors/{id}"),
        ],
    },
    CompositeTool {
        name: "list_threat_actors",
        purpose: "threat actors (collections of that type)",
        endpoints: &[("GET", "/collections"), ("GET", "/threat_actors")],
    },
    CompositeTool {
        name: "get_malware_family",
        purpose: "one malware family (a collection of that type)",
        endpoints: &[("GET", "/collections/{id}"), ("GET", "/collections")],
    },
    CompositeTool {
        name: "list_malware_families",
        purpose: "malware families (collections of that type)",
        endpoints: &[("GET", "/collections")],
    },
    CompositeTool {
        name: "get_campaign",
        purpose: "one campaign (a collection of that type)",
        endpoints: &[("GET", "/collections/{id}"), ("GET", "/collections")],
    },
    CompositeTool {
        name: "list_campaigns",
        purpose: "campaigns (collections of that type)",
        endpoints: &[("GET", "/collections")],
    },
    CompositeTool {
        name: "triage_iocs",
        purpose: "verdicts for a batch of hashes, URLs, domains and IP addresses",
        endpoints: &[
            ("GET", "/files/{id}"),
            ("GET", "/urls/{id}"),
            ("GET", "/domains/{domain}"),
            ("GET", "/ip_addresses/{ip}"),
        ],
    },
];
