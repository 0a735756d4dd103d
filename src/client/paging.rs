//! Cursor paging for every list and relationship operation.
//!
//! VirusTotal pages collections with an opaque cursor: each page carries `meta.cursor`, passed
//! back as `cursor=` to get the next one; the last page has none. [`paginate`] turns any
//! page-fetching closure into a [`Paginator`], a [`Stream`] of items that follows the cursor,
//! stops after [`PageOptions::max_items`], says where to resume ([`Paginator::resume_point`])
//! and ends with [`Error::Paging`] if the server hands out a cursor it already gave (which
//! would loop forever). The same paginator runs over the JSON dispatcher by operation name in
//! the layer above (`vtmcp::ops::paginate_json`).

use crate::Error;
use crate::client::{ResponseValue, types};
use futures::{Stream, future::BoxFuture};
use serde_json::Value;
use std::{
    collections::{HashSet, VecDeque},
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

/// One page: its items and the cursor of the next page (None on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor of the next page.
    pub cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items` followed by the page at `cursor` (an empty cursor counts as none).
    pub fn new(items: Vec<T>, cursor: Option<String>) -> Self {
        Page {
            items,
            cursor: cursor.filter(|c| !c.is_empty()),
        }
    }

    /// A page of `items` whose next cursor is in a collection's `meta`.
    pub fn from_meta(items: Vec<T>, meta: Option<&types::CollectionMeta>) -> Self {
        Page::new(items, meta.and_then(|m| m.cursor.clone()))
    }
}

/// A list answer that can be split into a [`Page`]: implemented for the generated list types
/// (`CommentList`, `DescriptorList`, `RelatedObjects`, …), for [`ResponseValue`] of those,
/// and for a JSON collection (`{"data":[…],"meta":{"cursor":…}}`).
pub trait IntoPage {
    /// The item type.
    type Item;
    /// Splits the answer into its items and the next cursor.
    fn into_page(self) -> Page<Self::Item>;
}

macro_rules! list_pages {
    ($($list:ident => $item:ident),* $(,)?) => {
        $(
            impl IntoPage for types::$list {
                type Item = types::$item;
                fn into_page(self) -> Page<types::$item> {
                    Page::from_meta(self.data, self.meta.as_ref())
                }
            }
        )*
    };
}

list_pages! {
    AnalysisList => Analysis,
    CollectionList => Collection,
    CommentList => Comment,
    FileBehaviourList => FileBehaviour,
    FileList => File,
    GenericObjectList => GenericObject,
    GraphList => Graph,
    HuntingNotificationList => HuntingNotification,
    HuntingRulesetList => HuntingRuleset,
    MonitorHashList => MonitorHash,
    MonitorItemList => MonitorItem,
    MonitorPartnerCommentList => MonitorPartnerComment,
    PrivateAnalysisList => PrivateAnalysis,
    PrivateFileList => PrivateFile,
    RetrohuntJobList => RetrohuntJob,
    SavedSearchList => SavedSearch,
    ThreatActorList => ThreatActor,
    ThreatProfileList => ThreatProfile,
    VoteList => Vote,
    YaraRuleList => YaraRule,
}

impl IntoPage for types::DescriptorList {
    type Item = types::Descriptor;
    /// Descriptors: a list, or one descriptor (or none) for one-to-one relationships.
    fn into_page(self) -> Page<types::Descriptor> {
        let items = match self.data {
            Some(types::Descriptors::Array(items)) => items,
            Some(types::Descriptors::Descriptor(one)) => vec![one],
            None => vec![],
        };
        Page::from_meta(items, self.meta.as_ref())
    }
}

impl IntoPage for types::RelatedObjects {
    type Item = Value;
    /// Related objects: a list, or a single object (or nothing) for one-to-one relationships.
    fn into_page(self) -> Page<Value> {
        Page::from_meta(json_items(self.data), self.meta.as_ref())
    }
}

impl IntoPage for types::RawDataResponse {
    type Item = Value;
    /// Free-form `data` (a list, a single value, or nothing) and `meta.cursor`.
    fn into_page(self) -> Page<Value> {
        let cursor = self
            .meta
            .get("cursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        Page::new(json_items(self.data), cursor)
    }
}

impl IntoPage for Value {
    type Item = Value;
    /// `data` (a list, a single object, or nothing) and `meta.cursor`.
    fn into_page(mut self) -> Page<Value> {
        let cursor = self
            .pointer("/meta/cursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        let data = self.get_mut("data").map(Value::take);
        Page::new(json_items(data), cursor)
    }
}

impl<L: IntoPage> IntoPage for ResponseValue<L> {
    type Item = L::Item;
    fn into_page(self) -> Page<L::Item> {
        self.into_inner().into_page()
    }
}

fn json_items(data: Option<Value>) -> Vec<Value> {
    match data {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => vec![],
        Some(one) => vec![one],
    }
}

/// Where to pick paging up again: fetch the page at `cursor` (None: the first page) and skip
/// its first `skip` items, which were already read. Serializable, so it can be handed to a
/// caller (e.g. an MCP client) and come back later.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResumePoint {
    /// The cursor of the page to fetch (None: the first page).
    pub cursor: Option<String>,
    /// Items of that page already read.
    pub skip: usize,
}

/// Limits and the starting point of a [`Paginator`].
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    max_items: Option<usize>,
    max_pages: Option<usize>,
    resume: Option<ResumePoint>,
}

impl PageOptions {
    /// No limit, from the first page.
    pub fn new() -> Self {
        PageOptions::default()
    }

    /// Stop after `n` items (the page size is the operation's `limit` argument).
    pub fn max_items(mut self, n: usize) -> Self {
        self.max_items = Some(n);
        self
    }

    /// Stop after fetching `n` pages.
    pub fn max_pages(mut self, n: usize) -> Self {
        self.max_pages = Some(n);
        self
    }

    /// Start at the page of `cursor` (a `meta.cursor` from an earlier answer).
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.resume = Some(ResumePoint {
            cursor: Some(cursor.into()),
            skip: 0,
        });
        self
    }

    /// Start where an earlier paginator stopped ([`Paginator::resume_point`]).
    pub fn resume_from(mut self, point: ResumePoint) -> Self {
        self.resume = Some(point);
        self
    }

    /// Whether a starting point ([`PageOptions::cursor`], [`PageOptions::resume_from`]) was
    /// given.
    pub(crate) fn has_start(&self) -> bool {
        self.resume.is_some()
    }
}

type PageFuture<T> = BoxFuture<'static, Result<Page<T>, Error>>;
type Fetch<T> = Box<dyn FnMut(Option<String>) -> PageFuture<T> + Send>;

enum Next {
    Fetch(Option<String>),
    End,
    Fail(Error),
}

/// A [`Stream`] of the items of a paged collection (see [`paginate`]). After an error the
/// stream ends; [`Paginator::resume_point`] then says where to try again.
pub struct Paginator<T> {
    operation: String,
    fetch: Fetch<T>,
    in_flight: Option<(Option<String>, PageFuture<T>)>,
    buffer: VecDeque<T>,
    page_cursor: Option<String>,
    consumed: usize,
    skip_first: usize,
    next: Next,
    seen: HashSet<String>,
    yielded: usize,
    pages: usize,
    max_items: Option<usize>,
    max_pages: Option<usize>,
    done: bool,
}

// Items are never pinned: they are moved out of the buffer.
impl<T> Unpin for Paginator<T> {}

impl<T> fmt::Debug for Paginator<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paginator")
            .field("operation", &self.operation)
            .field("yielded", &self.yielded)
            .field("pages", &self.pages)
            .field("resume_point", &self.resume_point())
            .finish_non_exhaustive()
    }
}

/// Pages through a collection: `fetch(cursor)` gets the page at `cursor` (None: the first
/// page) and returns its items and next cursor; the returned [`Paginator`] yields the items one
/// by one, fetching the next page when the current one is used up.
///
/// The generated builder of every operation with a `cursor` parameter already has `stream()`
/// and `stream_with()` built on this (`client.list_file_votes().id(h).stream()`); `paginate`
/// is for any other source of pages. Here, what `stream_with` does, written out:
///
/// ```no_run
/// # async fn demo(client: vtmcp::Client) -> Result<(), vtmcp::Error> {
/// use futures::TryStreamExt;
/// use vtmcp::client::{IntoPage, PageOptions, paginate};
///
/// let votes: Vec<_> = paginate(PageOptions::new().max_items(100), move |cursor| {
///     let client = client.clone();
///     async move {
///         let mut b = client.list_file_votes().id("44d88612fea8a8f36de82e1278abb02f").limit(40u32);
///         if let Some(c) = cursor {
///             b = b.cursor(c);
///         }
///         Ok(b.send().await?.into_page())
///     }
/// })
/// .try_collect()
/// .await?;
/// # Ok(()) }
/// ```
pub fn paginate<T, F, Fut>(options: PageOptions, mut fetch: F) -> Paginator<T>
where
    T: Send + 'static,
    F: FnMut(Option<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>, Error>> + Send + 'static,
{
    let resume = options.resume.unwrap_or_default();
    Paginator {
        operation: "the list".into(),
        fetch: Box::new(move |c| Box::pin(fetch(c))),
        in_flight: None,
        buffer: VecDeque::new(),
        page_cursor: None,
        consumed: 0,
        skip_first: resume.skip,
        next: Next::Fetch(resume.cursor),
        seen: HashSet::new(),
        yielded: 0,
        pages: 0,
        max_items: options.max_items,
        max_pages: options.max_pages,
        done: false,
    }
}

/// The paginator behind the `stream()` / `stream_with()` methods build.rs generates on the
/// builder of every operation with a `cursor` parameter (`build/client.rs`): `send(cursor)`
/// sends the builder's request with that `cursor` field. A cursor set on the builder is where
/// paging starts unless `options` gives a starting point; a cursor the builder refused is
/// reported by the first page's `send()`.
pub(crate) fn builder_stream<L, C, F, Fut>(
    operation: &'static str,
    options: PageOptions,
    cursor: Result<Option<C>, String>,
    mut send: F,
) -> Paginator<L::Item>
where
    L: IntoPage,
    L::Item: Send + 'static,
    C: Into<String> + TryFrom<String> + Send + 'static,
    <C as TryFrom<String>>::Error: fmt::Display,
    F: FnMut(Result<Option<C>, String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<ResponseValue<L>, Error>> + Send + 'static,
{
    let (options, refused) = match cursor {
        _ if options.has_start() => (options, None),
        Ok(Some(c)) => (options.cursor(c), None),
        Ok(None) => (options, None),
        Err(problem) => (options, Some(problem)),
    };
    paginate(options, move |next: Option<String>| {
        let cursor = match (&refused, next) {
            (Some(problem), None) => Err(problem.clone()),
            (_, None) => Ok(None),
            // A cursor the server handed out that the spec's pattern refuses: the page's send()
            // reports it as an invalid argument, nothing is sent.
            (_, Some(c)) => C::try_from(c)
                .map(Some)
                .map_err(|e| format!("conversion for cursor failed: {e}")),
        };
        let page = send(cursor);
        async move { page.await.map(IntoPage::into_page) }
    })
    .named(operation)
}

impl<T> Paginator<T> {
    /// Names the operation in error messages.
    pub fn named(mut self, operation: impl Into<String>) -> Self {
        self.operation = operation.into();
        self
    }

    /// Where to resume to read the items not yielded yet, or `None` when there are none left
    /// (the last page was read, or the server repeated a cursor).
    pub fn resume_point(&self) -> Option<ResumePoint> {
        if !self.buffer.is_empty() {
            return Some(ResumePoint {
                cursor: self.page_cursor.clone(),
                skip: self.consumed,
            });
        }
        if let Some((c, _)) = &self.in_flight {
            return Some(ResumePoint {
                cursor: c.clone(),
                skip: self.skip_first,
            });
        }
        match &self.next {
            Next::Fetch(c) => Some(ResumePoint {
                cursor: c.clone(),
                skip: self.skip_first,
            }),
            Next::End | Next::Fail(_) => None,
        }
    }

    /// The cursor of the page after the last one fetched (None: there is none, or it was not
    /// fetched yet).
    pub fn next_cursor(&self) -> Option<&str> {
        match &self.next {
            Next::Fetch(c) if self.pages > 0 => c.as_deref(),
            _ => None,
        }
    }

    /// Items yielded so far.
    pub fn items_yielded(&self) -> usize {
        self.yielded
    }

    /// Pages fetched so far.
    pub fn pages_fetched(&self) -> usize {
        self.pages
    }

    fn accept(&mut self, used: Option<String>, page: Page<T>) {
        self.pages += 1;
        self.page_cursor = used.clone();
        let mut items = VecDeque::from(page.items);
        self.consumed = self.skip_first.min(items.len());
        items.drain(..self.consumed);
        self.skip_first = 0;
        self.buffer = items;
        self.next = match page.cursor {
            None => Next::End,
            Some(c) if used.as_deref() == Some(c.as_str()) || self.seen.contains(&c) => {
                Next::Fail(Error::Paging {
                    operation: self.operation.clone(),
                    detail: format!(
                        "the server returned the cursor {:?} a second time (after {} pages); \
                         stopped to avoid fetching the same pages forever",
                        crate::error::truncate(&c, 80),
                        self.pages
                    ),
                })
            }
            Some(c) => Next::Fetch(Some(c)),
        };
    }
}

impl<T> Stream for Paginator<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if this.max_items.is_some_and(|m| this.yielded >= m) {
                this.done = true;
                return Poll::Ready(None);
            }
            if let Some(item) = this.buffer.pop_front() {
                this.consumed += 1;
                this.yielded += 1;
                return Poll::Ready(Some(Ok(item)));
            }
            if this.in_flight.is_none() {
                match std::mem::replace(&mut this.next, Next::End) {
                    Next::End => {
                        this.done = true;
                        return Poll::Ready(None);
                    }
                    Next::Fail(e) => {
                        this.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    Next::Fetch(c) => {
                        if this.max_pages.is_some_and(|m| this.pages >= m) {
                            this.next = Next::Fetch(c);
                            this.done = true;
                            return Poll::Ready(None);
                        }
                        if let Some(c) = &c {
                            this.seen.insert(c.clone());
                        }
                        let fut = (this.fetch)(c.clone());
                        this.in_flight = Some((c, fut));
                    }
                }
            }
            let (_, fut) = this.in_flight.as_mut().expect("a fetch is in flight");
            let result = ready!(fut.as_mut().poll(cx));
            let (used, _) = this.in_flight.take().expect("a fetch is in flight");
            match result {
                Ok(page) => this.accept(used, page),
                Err(e) => {
                    this.next = Next::Fetch(used);
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.max_items.map(|m| m.saturating_sub(self.yielded));
        let buffered = self.buffer.len();
        (left.map_or(buffered, |l| l.min(buffered)), left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use serde_json::json;

    #[tokio::test]
    async fn json_pages_and_one_to_one_relationships() {
        let p = json!({"data": [1, 2], "meta": {"cursor": "c2", "count": 9}}).into_page();
        assert_eq!(p.items, vec![json!(1), json!(2)]);
        assert_eq!(p.cursor.as_deref(), Some("c2"));
        let one = json!({"data": {"id": "x"}}).into_page();
        assert_eq!(one.items.len(), 1);
        assert_eq!(one.cursor, None);
        assert!(
            json!({"data": null, "meta": {"cursor": ""}})
                .into_page()
                .items
                .is_empty()
        );
        let all: Vec<i32> = paginate(PageOptions::new(), |c: Option<String>| async move {
            Ok(match c.as_deref() {
                None => Page::new(vec![1, 2], Some("b".into())),
                Some("b") => Page::new(vec![], Some("c".into())),
                _ => Page::new(vec![3], None),
            })
        })
        .try_collect()
        .await
        .unwrap();
        assert_eq!(all, vec![1, 2, 3]);
    }
}
