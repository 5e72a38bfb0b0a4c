//! Many short strings held end to end in one buffer. The resolution index of a large platform
//! holds several strings per pull secret for as long as it serves; one allocation each costs more
//! than the text (a 16–24 byte header, the allocator's rounding), and scatters long-lived blocks
//! among the short-lived ones of the build, so that the allocator cannot give those pages back.
//! Packed, an index is a handful of large blocks.

use std::hash::BuildHasher;

/// A list of strings, numbered in the order pushed.
#[derive(Debug, Clone, Default)]
pub struct StrList {
    text: String,
    /// Where each string ends in `text`; string `i` starts where `i - 1` ends.
    ends: Vec<u32>,
}

impl StrList {
    /// Appends `s`; its number is the list's length before.
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(end_of(self.text.len()));
    }

    /// String `i`. Panics when there is no such string, as indexing does.
    pub fn get(&self, i: usize) -> &str {
        &self.text[range_of(&self.ends, i)]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The number of `s` in a list pushed in ascending order, by binary search.
    pub fn search_sorted(&self, s: &str) -> Option<usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match self.get(middle).cmp(s) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(middle),
            }
        }
        None
    }

    /// Frees the room left for more.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * size_of::<u32>()
    }
}

/// A set of byte strings, each numbered in the order first inserted, found by one hash lookup.
#[derive(Clone)]
pub struct ByteSet {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    /// The numbers of the strings, placed by the hash of their bytes.
    table: hashbrown::HashTable<u32>,
    hasher: std::hash::RandomState,
}

impl Default for ByteSet {
    fn default() -> Self {
        ByteSet {
            bytes: Vec::new(),
            ends: Vec::new(),
            table: hashbrown::HashTable::new(),
            hasher: std::hash::RandomState::new(),
        }
    }
}

impl std::fmt::Debug for ByteSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((0..self.len()).map(|i| String::from_utf8_lossy(self.get(i))))
            .finish()
    }
}

impl ByteSet {
    /// The number of `s`, and whether this call added it.
    pub fn insert(&mut self, s: &[u8]) -> (usize, bool) {
        let ByteSet {
            bytes,
            ends,
            table,
            hasher,
        } = self;
        let hash = hasher.hash_one(s);
        let found = table.find(hash, |&i| slice(bytes, ends, i as usize) == s);
        if let Some(&i) = found {
            return (i as usize, false);
        }
        let i = ends.len();
        bytes.extend_from_slice(s);
        ends.push(end_of(bytes.len()));
        let number = u32::try_from(i).expect("fewer than 2^32 strings");
        table.insert_unique(hash, number, |j| hash_of(hasher, bytes, ends, j));
        (i, true)
    }

    /// The number of `s`, when the set holds it.
    pub fn find(&self, s: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(s);
        self.table
            .find(hash, |&i| self.get(i as usize) == s)
            .map(|&i| i as usize)
    }

    /// String `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        slice(&self.bytes, &self.ends, i)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Frees the room left for more.
    pub fn shrink_to_fit(&mut self) {
        let ByteSet {
            bytes,
            ends,
            table,
            hasher,
        } = self;
        bytes.shrink_to_fit();
        ends.shrink_to_fit();
        table.shrink_to_fit(|j| hash_of(hasher, bytes, ends, j));
    }

    /// Heap bytes held: the text, its ends, and the table's slots and control bytes.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
            + self.ends.capacity() * size_of::<u32>()
            + self.table.capacity() * (size_of::<u32>() + 1)
    }
}

/// The hash of string `j` of a [`ByteSet`], as its table places it.
fn hash_of(hasher: &std::hash::RandomState, bytes: &[u8], ends: &[u32], j: &u32) -> u64 {
    hasher.hash_one(slice(bytes, ends, *j as usize))
}

fn slice<'a>(bytes: &'a [u8], ends: &[u32], i: usize) -> &'a [u8] {
    &bytes[range_of(ends, i)]
}

/// The range of item `i` of a flat list whose items end at `ends`: item `i` starts where item
/// `i - 1` ends.
pub fn range_of(ends: &[u32], i: usize) -> std::ops::Range<usize> {
    let start = match i {
        0 => 0,
        i => ends[i - 1] as usize,
    };
    start..ends[i] as usize
}

/// A length as an end in such a list.
pub fn end_of(len: usize) -> u32 {
    u32::try_from(len).expect("fewer than 2^32 items")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_gives_back_what_was_pushed_including_empty_strings() {
        let mut list = StrList::default();
        for s in ["quay.io", "", "ghcr.io/org", "é"] {
            list.push(s);
        }
        list.shrink_to_fit();
        assert_eq!(list.len(), 4);
        let got: Vec<&str> = (0..list.len()).map(|i| list.get(i)).collect();
        assert_eq!(got, ["quay.io", "", "ghcr.io/org", "é"]);
    }

    #[test]
    fn a_sorted_list_is_searched_for_exact_strings() {
        let mut list = StrList::default();
        assert_eq!(list.search_sorted("a"), None);
        for s in ["", "docker.io", "ghcr.io", "index.docker.io", "quay.io"] {
            list.push(s);
        }
        for (i, s) in ["", "docker.io", "ghcr.io", "index.docker.io", "quay.io"]
            .iter()
            .enumerate()
        {
            assert_eq!(list.search_sorted(s), Some(i));
        }
        for absent in ["a", "index.docker.i", "index.docker.iox", "zz"] {
            assert_eq!(list.search_sorted(absent), None, "{absent}");
        }
    }

    #[test]
    fn a_set_numbers_each_string_once_in_insertion_order() {
        let mut set = ByteSet::default();
        assert_eq!(set.insert(b"a"), (0, true));
        assert_eq!(set.insert(b""), (1, true));
        assert_eq!(set.insert(b"\xffb"), (2, true));
        assert_eq!(set.insert(b"a"), (0, false));
        assert_eq!(set.insert(b""), (1, false));
        assert_eq!(set.find(b"\xffb"), Some(2));
        assert_eq!(set.find(b"b"), None);
        assert_eq!(set.get(2), b"\xffb");
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn a_set_finds_every_string_after_growing_and_shrinking() {
        let mut set = ByteSet::default();
        for i in 0..10_000 {
            assert_eq!(
                set.insert(format!("r{i}.example.com").as_bytes()),
                (i, true)
            );
        }
        set.shrink_to_fit();
        for i in 0..10_000 {
            assert_eq!(set.find(format!("r{i}.example.com").as_bytes()), Some(i));
        }
        assert_eq!(set.find(b"r10000.example.com"), None);
        let clone = set.clone();
        assert_eq!(clone.find(b"r42.example.com"), Some(42));
    }
}
