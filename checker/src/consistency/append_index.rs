//! A compact index of an append-workload history: every element ever appended or
//! read, and every read as a node of a prefix tree (trie) of the lists it returned.
//!
//! Why a trie: in a correct system every read of a key returns a prefix of one
//! growing list, so the trie of all reads of a key is a single path and a read of
//! length n costs n pointer comparisons to place, with no hashing. Afterwards "is
//! read A a prefix of read B" is an O(1) interval test on an Euler tour, and "does
//! read B contain element e" is one such test per place e occurs in the trie (one,
//! in a correct system). Properties that depend only on a read's list (monotonic
//! writes, writes-follow-reads, duplicates) are computed once per trie node instead
//! of once per read, so the checkers built on this index run in time linear in the
//! size of the history, however long the lists grow.

use super::{is_read, Atom, FastMap, ShapeError};
use crate::history::{History, Operation, Outcome};
use serde_json::Value;

/// Marks an absent node or element.
pub const NONE: u32 = u32::MAX;

/// One place in the trie: the list that runs from its key's root to here.
#[derive(Debug, Clone)]
pub struct Node {
    pub parent: u32,
    /// The last element of the list; `NONE` at a key's root (the empty list).
    pub elem: u32,
    pub depth: u32,
    pub key: u32,
    first_child: u32,
    next_sibling: u32,
    /// The element's value when it is an integer (the usual case), kept in the node
    /// so that walking a read along the trie does not touch the element table: the
    /// walk is memory-bound, and this halves its cache misses.
    int_elem: Option<i64>,
}

/// An element of some key: appended by at most one operation (elements are unique
/// per key), possibly read without ever being appended (a phantom).
#[derive(Debug, Clone)]
pub struct Elem {
    pub key: u32,
    pub value: Value,
    /// The append operation (index into `History::ops`) that wrote it, if any.
    pub writer: Option<usize>,
    /// The element of the writer process's previous acknowledged append to the same
    /// key, `NONE` if there is none: the write that monotonic writes orders first.
    pub prev_ok: u32,
    /// The first trie node labelled with this element; `NONE` if never read.
    pub first_node: u32,
}

#[derive(Debug, Clone, Default)]
struct Spine {
    /// `nodes[d]` is the node at depth `d`; `nodes[0]` is the root.
    nodes: Vec<u32>,
    /// `ints[d]` is the integer element of `nodes[d + 1]`, if it is one.
    ints: Vec<Option<i64>>,
}

/// An acknowledged read (`read` or `final-read` with an `ok` completion).
#[derive(Debug, Clone, Copy)]
pub struct ReadObs {
    pub op: usize,
    pub key: u32,
    pub node: u32,
}

#[derive(Debug, Clone, Default)]
pub struct AppendIndex {
    /// Key id to the key as written in the history (`None` for keyless histories).
    pub keys: Vec<Option<Value>>,
    pub elems: Vec<Elem>,
    pub nodes: Vec<Node>,
    /// Reads in history (invocation) order.
    pub reads: Vec<ReadObs>,
    /// For each append operation (by op id), its element; `NONE` for other ops.
    pub op_elem: Vec<u32>,
    /// Elements that label more than one trie node (besides `first_node`): only in
    /// histories where reads disagree on an element's position or repeat it.
    extra_nodes: FastMap<u32, Vec<u32>>,
    roots: Vec<u32>,
    /// Per key, the first-child chain from the root (the list as the first read that
    /// went furthest saw it): the nodes, and their integer elements contiguously, so
    /// that placing a read that agrees with it is a linear scan of two arrays.
    spines: Vec<Spine>,
    key_ids: FastMap<Atom, u32>,
    elem_ids: FastMap<(u32, Atom), u32>,
    children: FastMap<(u32, u32), u32>,
    tin: Vec<u32>,
    tout: Vec<u32>,
}

impl AppendIndex {
    /// Indexes the `append` and `read`/`final-read` operations of a history; other
    /// functions are ignored. Errors name the operation: an element appended twice to
    /// the same key (the workload's elements must be unique per key), or a read that
    /// completed `ok` with something other than a list or null.
    pub fn build(history: &History) -> Result<AppendIndex, ShapeError> {
        let mut ix = AppendIndex {
            op_elem: vec![NONE; history.ops.len()],
            ..Default::default()
        };
        // Appends first, so that reads find every element's writer, and in
        // invocation order, which is each process's own order.
        let mut last_ok: FastMap<(u64, u32), u32> = FastMap::default();
        for op in &history.ops {
            if op.f != "append" {
                continue;
            }
            let key = ix.key_id(&op.key);
            let e = ix.elem_id(key, &op.input);
            if let Some(w) = ix.elems[e as usize].writer {
                let first = &history.ops[w];
                return Err(ShapeError::at(
                    op,
                    format!(
                        "element {} appended to key {} a second time (first by history event {}); \
                         the append workload needs elements unique per key",
                        op.input,
                        super::show_key(&op.key),
                        first.invoke_index
                    ),
                ));
            }
            let slot = last_ok.entry((op.process, key)).or_insert(NONE);
            let elem = &mut ix.elems[e as usize];
            elem.writer = Some(op.id);
            elem.prev_ok = *slot;
            if op.outcome == Outcome::Ok {
                *slot = e;
            }
            ix.op_elem[op.id] = e;
        }
        for op in &history.ops {
            if !is_read(op) || op.outcome != Outcome::Ok {
                continue;
            }
            let key = ix.key_id(&op.key);
            let node = match &op.output {
                Value::Null => ix.root(key),
                Value::Array(items) => ix.place(key, items),
                other => {
                    return Err(ShapeError::at(
                        op,
                        format!(
                            "an append-workload read must return a list or null, found {other}"
                        ),
                    ))
                }
            };
            ix.reads.push(ReadObs {
                op: op.id,
                key,
                node,
            });
        }
        ix.euler_tour();
        Ok(ix)
    }

    fn key_id(&mut self, key: &Option<Value>) -> u32 {
        let atom = key.as_ref().map(Atom::of).unwrap_or(Atom::Null);
        if let Some(&k) = self.key_ids.get(&atom) {
            return k;
        }
        let k = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.key_ids.insert(atom, k);
        // Other keys' nodes may have been created in between, so a key's root is
        // looked up through `roots`, not by id arithmetic.
        self.roots.push(self.nodes.len() as u32);
        self.spines.push(Spine {
            nodes: vec![self.nodes.len() as u32],
            ints: Vec::new(),
        });
        self.nodes.push(Node {
            parent: NONE,
            elem: NONE,
            depth: 0,
            key: k,
            first_child: NONE,
            next_sibling: NONE,
            int_elem: None,
        });
        k
    }

    /// The root (empty list) of a key.
    pub fn root(&self, key: u32) -> u32 {
        self.roots[key as usize]
    }

    fn elem_id(&mut self, key: u32, v: &Value) -> u32 {
        let atom = Atom::of(v);
        if let Some(&e) = self.elem_ids.get(&(key, atom.clone())) {
            return e;
        }
        let e = self.elems.len() as u32;
        self.elems.push(Elem {
            key,
            value: v.clone(),
            writer: None,
            prev_ok: NONE,
            first_node: NONE,
        });
        self.elem_ids.insert((key, atom), e);
        e
    }

    /// Walks (and grows) the trie along a read's list; returns the node for the list.
    fn place(&mut self, key: u32, items: &[Value]) -> u32 {
        // Fast path: along the key's spine, comparing integers held contiguously.
        let spine = &self.spines[key as usize];
        let limit = items.len().min(spine.ints.len());
        let mut d = 0;
        while d < limit {
            let same = match (spine.ints[d], &items[d]) {
                (Some(i), Value::Number(x)) => x.as_i64() == Some(i),
                (Some(_), _) => false,
                (None, v) => self.same_elem(spine.nodes[d + 1], v),
            };
            if !same {
                break;
            }
            d += 1;
        }
        let mut cur = spine.nodes[d];
        for v in &items[d..] {
            let first = self.nodes[cur as usize].first_child;
            if first != NONE && self.same_elem(first, v) {
                cur = first;
                continue;
            }
            let e = self.elem_id(key, v);
            cur = if first == NONE {
                let n = self.new_node(cur, e);
                self.nodes[cur as usize].first_child = n;
                let spine = &mut self.spines[key as usize];
                if *spine.nodes.last().unwrap() == cur {
                    spine.nodes.push(n);
                    spine.ints.push(self.nodes[n as usize].int_elem);
                }
                n
            } else if self.nodes[first as usize].elem == e {
                first
            } else if let Some(&n) = self.children.get(&(cur, e)) {
                n
            } else {
                let n = self.new_node(cur, e);
                self.nodes[n as usize].next_sibling = self.nodes[first as usize].next_sibling;
                self.nodes[first as usize].next_sibling = n;
                self.children.insert((cur, e), n);
                n
            };
        }
        cur
    }

    #[inline]
    fn same_elem(&self, node: u32, v: &Value) -> bool {
        let n = &self.nodes[node as usize];
        match (n.int_elem, v) {
            (Some(i), Value::Number(x)) => x.as_i64() == Some(i),
            (Some(_), _) => false,
            (None, _) => self.elems[n.elem as usize].value == *v,
        }
    }

    fn new_node(&mut self, parent: u32, e: u32) -> u32 {
        let n = self.nodes.len() as u32;
        let p = &self.nodes[parent as usize];
        self.nodes.push(Node {
            parent,
            elem: e,
            depth: p.depth + 1,
            key: p.key,
            first_child: NONE,
            next_sibling: NONE,
            int_elem: self.elems[e as usize].value.as_i64(),
        });
        let elem = &mut self.elems[e as usize];
        if elem.first_node == NONE {
            elem.first_node = n;
        } else {
            self.extra_nodes.entry(e).or_default().push(n);
        }
        n
    }

    fn euler_tour(&mut self) {
        let n = self.nodes.len();
        self.tin = vec![0; n];
        self.tout = vec![0; n];
        let mut timer = 0u32;
        let mut stack: Vec<(u32, u32)> = Vec::new();
        for key in 0..self.keys.len() as u32 {
            let root = self.root(key);
            self.tin[root as usize] = timer;
            timer += 1;
            stack.push((root, self.nodes[root as usize].first_child));
            while let Some(top) = stack.last_mut() {
                let (node, child) = *top;
                if child == NONE {
                    self.tout[node as usize] = timer - 1;
                    stack.pop();
                } else {
                    top.1 = self.nodes[child as usize].next_sibling;
                    self.tin[child as usize] = timer;
                    timer += 1;
                    stack.push((child, self.nodes[child as usize].first_child));
                }
            }
        }
    }

    /// Whether the list at `a` is a prefix of (or equal to) the list at `b`.
    #[inline]
    pub fn is_prefix(&self, a: u32, b: u32) -> bool {
        let (ta, tb) = (self.tin[a as usize], self.tin[b as usize]);
        ta <= tb && tb <= self.tout[a as usize]
    }

    /// Euler-tour entry time of a node and the last entry time in its subtree: a read
    /// contains the list at `m` as a prefix iff its node's `tin` lies in this range.
    pub fn subtree_range(&self, m: u32) -> (u32, u32) {
        (self.tin[m as usize], self.tout[m as usize])
    }

    pub fn tin(&self, m: u32) -> u32 {
        self.tin[m as usize]
    }

    /// Every trie node labelled with element `e`.
    pub fn nodes_of(&self, e: u32) -> impl Iterator<Item = u32> + '_ {
        let first = self.elems[e as usize].first_node;
        let extra = self
            .extra_nodes
            .get(&e)
            .map(|v| v.as_slice())
            .unwrap_or(&[]);
        (first != NONE)
            .then_some(first)
            .into_iter()
            .chain(extra.iter().copied())
    }

    /// Whether element `e` labels more than one node (disagreeing or repeating reads).
    pub fn is_scattered(&self, e: u32) -> bool {
        self.extra_nodes.contains_key(&e)
    }

    /// The node on the path to `n` labelled `e` (the first such from the root), if
    /// the list at `n` contains `e`.
    pub fn find_on_path(&self, e: u32, n: u32) -> Option<u32> {
        self.nodes_of(e)
            .filter(|&m| self.is_prefix(m, n))
            .min_by_key(|&m| self.nodes[m as usize].depth)
    }

    /// Whether the list at `n` contains element `e`.
    #[inline]
    pub fn contains(&self, n: u32, e: u32) -> bool {
        let first = self.elems[e as usize].first_node;
        if first == NONE {
            return false;
        }
        if self.is_prefix(first, n) {
            return true;
        }
        match self.extra_nodes.get(&e) {
            Some(more) => more.iter().any(|&m| self.is_prefix(m, n)),
            None => false,
        }
    }

    /// The list at a node, as values (for evidence: O(depth), call it sparingly).
    pub fn list(&self, n: u32) -> Vec<Value> {
        let mut out = Vec::with_capacity(self.nodes[n as usize].depth as usize);
        let mut cur = n;
        while self.nodes[cur as usize].elem != NONE {
            out.push(
                self.elems[self.nodes[cur as usize].elem as usize]
                    .value
                    .clone(),
            );
            cur = self.nodes[cur as usize].parent;
        }
        out.reverse();
        out
    }

    /// The deepest common prefix of the lists at two nodes of the same key.
    pub fn common_prefix(&self, mut a: u32, mut b: u32) -> u32 {
        while self.nodes[a as usize].depth > self.nodes[b as usize].depth {
            a = self.nodes[a as usize].parent;
        }
        while self.nodes[b as usize].depth > self.nodes[a as usize].depth {
            b = self.nodes[b as usize].parent;
        }
        while a != b {
            a = self.nodes[a as usize].parent;
            b = self.nodes[b as usize].parent;
        }
        a
    }

    /// The ancestor of `n` at a given depth.
    pub fn ancestor_at(&self, mut n: u32, depth: u32) -> u32 {
        while self.nodes[n as usize].depth > depth {
            n = self.nodes[n as usize].parent;
        }
        n
    }

    pub fn elem_value(&self, e: u32) -> &Value {
        &self.elems[e as usize].value
    }

    pub fn key_value(&self, key: u32) -> Value {
        self.keys[key as usize].clone().unwrap_or(Value::Null)
    }

    pub fn depth(&self, n: u32) -> u32 {
        self.nodes[n as usize].depth
    }

    pub fn writer<'h>(&self, history: &'h History, e: u32) -> Option<&'h Operation> {
        self.elems[e as usize].writer.map(|w| &history.ops[w])
    }
}
