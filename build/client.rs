//! Reshapes progenitor's generated builders (`mod builder` of `client.rs`) before they are
//! written out:
//!
//! * each `send()` is renamed `send_generated()` (private) and a `send()` of the same name and
//!   return value takes its place, failing with `crate::Error` converted with the operation id
//!   progenitor gave the request, so `?` works in a function returning `vtmcp::Result`
//!   (`src/client/errors.rs` says why this and not a `From` conversion);
//! * each builder of an operation with a `cursor` query parameter gets `stream()` and
//!   `stream_with(PageOptions)`: the items of every page, through the hand-written paginator
//!   (`src/client/paging.rs`: loop guard, resume points, `max_items`), each page sent by the new
//!   `send()` (rate limit, retries, answer caps).

use quote::{ToTokens, format_ident, quote};
use std::collections::BTreeSet;

/// Rewrites the builders of `file` in place. `paged` holds the ids of the operations with a
/// `cursor` parameter. Panics (failing the build) when progenitor's output no longer has the
/// shape relied on here, naming what changed.
pub fn reshape_builders(file: &mut syn::File, paged: &BTreeSet<String>) {
    let builder = file
        .items
        .iter_mut()
        .find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == "builder" => m.content.as_mut(),
            _ => None,
        })
        .map(|(_, items)| items)
        .expect("progenitor's output has no `mod builder`");

    // Field names of each builder struct, in declaration order.
    let mut fields = std::collections::BTreeMap::new();
    for item in builder.iter() {
        if let syn::Item::Struct(s) = item {
            let names: Vec<syn::Ident> = s.fields.iter().filter_map(|f| f.ident.clone()).collect();
            fields.insert(s.ident.to_string(), names);
        }
    }

    let mut extra = Vec::new();
    let mut streamed = BTreeSet::new();
    for item in builder.iter_mut() {
        let syn::Item::Impl(imp) = item else { continue };
        let syn::Type::Path(tp) = &*imp.self_ty else {
            continue;
        };
        let name = tp.path.segments.last().unwrap().ident.clone();
        let Some(pos) = imp.items.iter().position(
            |i| matches!(i, syn::ImplItem::Fn(f) if f.sig.ident == "send" && f.sig.asyncness.is_some()),
        ) else {
            continue;
        };
        let syn::ImplItem::Fn(send) = &mut imp.items[pos] else {
            unreachable!()
        };
        let op = operation_id(send).unwrap_or_else(|| {
            panic!("progenitor's `{name}::send` names no `operation_id`: update build/client.rs")
        });
        let success = success_type(&send.sig.output).unwrap_or_else(|| {
            panic!("progenitor's `{name}::send` no longer returns `Result<ResponseValue<T>, Error<E>>`: update build/client.rs")
        });
        let doc: Vec<syn::Attribute> = send
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect();
        send.sig.ident = format_ident!("send_generated");
        send.vis = syn::Visibility::Inherited;
        send.attrs.retain(|a| !a.path().is_ident("doc"));

        let note = format!(
            " Fails with a [`crate::Error`] that names `{op}` (see [`crate::Error::operation`])."
        );
        let wrapper: syn::ImplItemFn = syn::parse2(quote! {
            #(#doc)*
            ///
            #[doc = #note]
            pub fn send(
                self,
            ) -> impl ::std::future::Future<
                Output = ::std::result::Result<ResponseValue<#success>, crate::Error>,
            > {
                // A combinator, not another `async fn`: polling it adds no stack frame holding
                // the request's (large) future, which deep report calls would feel in debug builds.
                ::futures::TryFutureExt::map_err(self.send_generated(), |e| {
                    crate::Error::from_progenitor(#op, e)
                })
            }
        })
        .expect("the send() wrapper parses");
        imp.items.insert(pos + 1, syn::ImplItem::Fn(wrapper));

        if paged.contains(&op) {
            let names = &fields[&name.to_string()];
            assert!(
                names.iter().any(|f| f == "cursor"),
                "operation {op} has a `cursor` parameter but its builder has no `cursor` field"
            );
            extra.push(stream_impl(&name, &op, &success, names));
            streamed.insert(op);
        }
    }
    let missing: Vec<_> = paged.difference(&streamed).collect();
    assert!(
        missing.is_empty(),
        "paged operations without a generated builder: {missing:?}"
    );
    builder.extend(extra);
}

/// `impl Builder<'_> { fn stream(); fn stream_with() }` for a paged operation.
fn stream_impl(
    name: &syn::Ident,
    op: &str,
    success: &syn::Type,
    fields: &[syn::Ident],
) -> syn::Item {
    let others: Vec<&syn::Ident> = fields
        .iter()
        .filter(|f| *f != "client" && *f != "cursor")
        .collect();
    let stream_doc = format!(
        " Every item of `{op}`, page after page: [`send`](Self::send) for each page with the \
         `cursor` of the one before. A `cursor` set on this builder is where paging starts. The \
         stream ends with [`crate::Error::Paging`] if the server repeats a cursor; \
         [`Paginator::resume_point`](crate::client::Paginator::resume_point) says where to pick \
         up after an error. Page size is the builder's `limit`."
    );
    let with_doc = " Like [`stream`](Self::stream), with limits (`max_items`, `max_pages`) or \
                    a starting point ([`PageOptions::resume_from`](crate::client::PageOptions::resume_from), \
                    which takes precedence over the builder's `cursor`).";
    let item = quote! {
        impl<'a> #name<'a> {
            #[doc = #stream_doc]
            pub fn stream(
                self,
            ) -> crate::client::Paginator<<#success as crate::client::IntoPage>::Item> {
                self.stream_with(crate::client::PageOptions::new())
            }

            #[doc = #with_doc]
            pub fn stream_with(
                self,
                options: crate::client::PageOptions,
            ) -> crate::client::Paginator<<#success as crate::client::IntoPage>::Item> {
                let Self { client, cursor, #(#others,)* } = self;
                let client = client.clone();
                crate::client::paging::builder_stream(#op, options, cursor, move |cursor| {
                    let client = client.clone();
                    #( let #others = #others.clone(); )*
                    async move {
                        #name { client: &client, cursor, #(#others,)* }.send().await
                    }
                })
            }
        }
    };
    syn::parse2(item).unwrap_or_else(|e| panic!("stream() of {op} does not parse: {e}"))
}

/// The `operation_id: "…"` progenitor writes into `send`'s `OperationInfo`.
fn operation_id(f: &syn::ImplItemFn) -> Option<String> {
    let tokens: Vec<proc_macro2::TokenTree> = flatten(f.block.to_token_stream());
    tokens.windows(3).find_map(|w| match w {
        [
            proc_macro2::TokenTree::Ident(i),
            proc_macro2::TokenTree::Punct(p),
            proc_macro2::TokenTree::Literal(l),
        ] if i == "operation_id" && p.as_char() == ':' => {
            let s: syn::LitStr = syn::parse2(l.to_token_stream()).ok()?;
            Some(s.value())
        }
        _ => None,
    })
}

fn flatten(ts: proc_macro2::TokenStream) -> Vec<proc_macro2::TokenTree> {
    let mut out = Vec::new();
    for t in ts {
        match t {
            proc_macro2::TokenTree::Group(g) => out.extend(flatten(g.stream())),
            other => out.push(other),
        }
    }
    out
}

/// `T` of `Result<ResponseValue<T>, Error<E>>`.
fn success_type(output: &syn::ReturnType) -> Option<syn::Type> {
    let syn::ReturnType::Type(_, ty) = output else {
        return None;
    };
    let first_arg = |ty: &syn::Type, name: &str| -> Option<syn::Type> {
        let syn::Type::Path(tp) = ty else { return None };
        let seg = tp.path.segments.last()?;
        if seg.ident != name {
            return None;
        }
        let syn::PathArguments::AngleBracketed(ab) = &seg.arguments else {
            return None;
        };
        match ab.args.first()? {
            syn::GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        }
    };
    let ok = first_arg(ty, "Result")?;
    first_arg(&ok, "ResponseValue")
}
