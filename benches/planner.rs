//! The planner on large mapped sets: "Plan 1,000,000 mapped pairs with 1% changed on each side:
//! target at least 2,000,000 records per second on one core; report peak memory per mapped pair."
//!
//! Fixtures (built outside the timed section): a [`PairIndex`] of N contact pairs, Salesforce ids
//! on one side and Graph-shaped ids on the other, whose field prints are those of 1,000 realistic
//! generated contacts (reused under distinct ids); 1% of the CRM records edited (one or two
//! fields each) and a different 1% of the mailbox records, a tenth of which are the same pairs
//! as CRM edits, so the planner also settles conflicts (field merge, the default policy).
//!
//! Run with `cargo bench --bench planner`. Besides divan's table, `main` prints the memory
//! figures once (resident-set deltas read from `/proc/self/status`). The global allocator is
//! divan's `AllocProfiler`, a counting wrapper around `System`, so divan's table also shows the
//! exact heap bytes each benchmark allocates and holds at most ("max alloc"). A hand-written
//! counting allocator is not possible here: `unsafe impl GlobalAlloc` is unsafe code, which the
//! workspace forbids (`unsafe_code = "forbid"` reaches every target, benches included).
//!
//! ## Cost per change (issue 14)
//!
//! `cost_per_change::{contacts,events}_{1,100}pct` plan N = 10,000 and 100,000 mapped pairs of
//! one kind with 1% or 100% of them changed (half CRM edits, half mailbox edits, a tenth of those
//! on pairs edited on both sides) and count changed records (`ItemsCount`). Run with
//! `cargo bench --bench planner -- cost_per_change`; profile with
//! `perf record -F 250 --call-graph dwarf target/release/deps/planner-* --bench cost_per_change::contacts_100pct`.
//! Changed records per second on one core of the 2-core build machine, divan's median (fastest
//! in brackets), before and after, the two runs back to back under the same load (other builds
//! shared the machine; under heavier load both sides read up to 2x lower):
//!
//! | case                 | before          | after            |
//! |----------------------|-----------------|------------------|
//! | contacts 1%, 10k     | 117 k/s (120 k) | 225 k/s (227 k)  |
//! | contacts 1%, 100k    |  93 k/s (99 k)  | 171 k/s (189 k)  |
//! | contacts 100%, 10k   |  62 k/s (64 k)  | 104 k/s (113 k)  |
//! | contacts 100%, 100k  |  52 k/s (55 k)  |  96 k/s (99 k)   |
//! | events 1%, 10k       |  88 k/s (94 k)  | 141 k/s (143 k)  |
//! | events 1%, 100k      |  84 k/s (87 k)  | 133 k/s (135 k)  |
//! | events 100%, 10k     |  54 k/s (55 k)  |  78 k/s (80 k)   |
//! | events 100%, 100k    |  49 k/s (49 k)  |  62 k/s (63 k)   |
//!
//! The 1,000,000-pair run `main` prints (1% changed on each side) went from 51 k to 78 k changed
//! records per second, cold.
//!
//! Where the time went (perf, contacts 100%): printing every synced field of each changed record
//! twice (once to diff, once for the next state), each print copying the value out of the record
//! and serialising it into a fresh buffer; a B-tree keyed by pair id whose ~1 KB values (whole
//! records) it shifted on every insert; SipHash over 150-character Graph ids; a copy of every
//! record to rename custom fields even when there are none; cloning whole pair states to compare
//! them; prints kept as `Vec<(FieldKey, u64)>` (40 bytes a field). Now each record's prints are
//! computed once and only when needed, text, phones, emails and addresses are hashed in place (text
//! without escapes without a serialiser), records are borrowed when already canonical, the pair
//! index hashes with xxh3, pairs are grouped through a small index. Left: the JSON serialisation
//! that defines a fingerprint (about 40% of what remains), cache misses on the pair index and the
//! copies that go into the plan (next states, patches, reasons). 500,000 changes per second is not
//! reached: it needs fingerprints that do not go through JSON, which changes every stored print.
//!
//! **Second round (2026-12-06, later).** What the profile showed next, and what changed: lists,
//! emails, addresses, privacy, show-as and one attendee went through serde_json to be printed;
//! they are now written by hand into the reused buffer, byte for byte what serde_json writes (a
//! property test holds every one of them to it, so stored prints still match and no state is
//! re-printed); a written field's print is the source record's, already computed, instead of the
//! fitted value hashed again (unless fitting changed it); changed fields are found in one walk
//! through three lists in field order instead of two binary searches per field; the seen prints
//! move into the next state instead of being cloned; an event's attendee prints are built in one
//! go (they were inserted one by one, each re-allocating the prints); validation scans bytes for
//! control characters instead of decoding every character; the touched-pair tables are sized
//! once and one index lookup per touched pair went. Binaries before and after alternated three
//! times, `--bench cost_per_change::{contacts,events}_1pct --sample-count 15`, divan's medians:
//!
//! | case              | before         | after          |
//! |-------------------|----------------|----------------|
//! | contacts 1%, 10k  | 172–186 k/s    | 249–257 k/s    |
//! | contacts 1%, 100k | 132–150 k/s    | 198–236 k/s    |
//! | events 1%, 10k    | 114–117 k/s    | 157–160 k/s    |
//! | events 1%, 100k   | 92–105 k/s     | 115–155 k/s    |
//!
//! An event's timing print, written by hand as well afterwards (the zone conversion stays), took
//! events a little further: 1% of 10k 150–155 k/s → 159–179 k/s, of 100k 128–132 k/s →
//! 133–173 k/s (that binary alternated three times with the one of the "after" column).
//!
//! At 100% changed the gain is smaller (contacts 10k: 86–90 k/s before, 86–124 k/s after; events
//! unchanged at 61–69 k/s before the timing print: their recurrence prints still go through
//! serde_json, and the zone conversion behind a timing print is much of it). Still short of 500 k/s (2 µs a change):
//! what remains is spread out, about a quarter in decoding the touched pairs out of the packed
//! index (their ids, versions and prints are allocated anew), a fifth in computing each record's
//! prints, a fifth in building the plan's operations and next states, and allocation and freeing
//! throughout (a fifth of all samples). Going further means a planner that borrows the packed
//! pairs instead of decoding them, and plan types that borrow ids instead of owning them.
//!
//! **Third round (2026-12-07).** Counted first, with `valgrind --tool=callgrind
//! --toggle-collect='tandem_core::planner::planned*' <planner bench binary> --bench
//! cost_per_change::contacts_1pct --sample-count 3` (instructions inside `plan` only, the same
//! on every run where wall time on this machine varies by a third): about 39,000 instructions
//! per changed record. Where they went: printing the changed records 23%, building operations and
//! next states 22%, decoding the touched pairs from the packed index 16%, validation 8%,
//! comparing prints field by field 10%, and glibc's `malloc` and `free` about a fifth spread over
//! all of it. What changed:
//! - comparing a record's prints with its pair's: when both hold exactly the fields printed (a
//!   contact's nearly always, an event's without attendees), the two lists of prints are compared
//!   in place instead of walked field by field (in debug builds every such comparison is checked
//!   against the walk, so every planner test holds the shortcut to it); the walk itself compares
//!   standard fields by code;
//! - a change's id, version and sync key are borrowed through planning instead of copied;
//! - the bytes JSON escapes and the bytes a control character starts with are looked for eight at
//!   a time (`byte_scan.rs`, exact bit tricks, held to a byte-by-byte search by a property test
//!   and an exhaustive one); text that needs escaping (notes with line breaks) is escaped by hand,
//!   byte for byte as serde_json escapes it, instead of going through serde_json;
//! - "blank" (white space throughout) is decided at the first character that is not, not by
//!   trimming; a patch and its prints are sized once; packed prints are read as whole words.
//!
//! Instructions inside `plan` for the runs above: contacts 949.6 → 748.1 million (−21%), events
//! (`events_1pct`) 1,030.1 → 842.5 million (−18%). Wall time, binaries before and after alternated
//! three times (`--bench cost_per_change --sample-count 10`), divan's medians in k changes/s:
//!
//! | case                | before        | after         |
//! |---------------------|---------------|---------------|
//! | contacts 1%, 10k    | 282, 285, 285 | 330, 335, 322 |
//! | contacts 1%, 100k   | 220, 254, 156 | 281, 300, 239 |
//! | contacts 100%, 10k  | 119, 115, 106 | 140, 136, 136 |
//! | contacts 100%, 100k | 105, 99, 92   | 121, 108, 118 |
//! | events 1%, 10k      | 177, 176, 178 | 189, 180, 188 |
//! | events 1%, 100k     | 142, 118, 162 | 163, 149, 148 |
//! | events 100%, 10k    | 85, 82, 87    | 91, 78, 88    |
//! | events 100%, 100k   | 73, 73, 74    | 79, 74, 80    |
//!
//! Still short of 500 k/s. What the 31,000 instructions per contact change left are: printing
//! the record (about 7,300: 22 fields, each JSON written and hashed, which is what a stored print
//! is), decoding and later freeing the touched pair (about 7,000: nine allocations), building the
//! operation and next state (about 8,600: ids, versions and the other side's prints cloned into
//! owned plan types), validating (about 2,800), and `malloc`'s slow path throughout (a plan keeps
//! every allocation it makes alive until it is returned, so glibc's per-thread cache runs dry).
//! The next step is structural, as the second round found: plan types that share ids instead of
//! owning copies, and a planner that reads the packed pairs in place.
//!
//! **Fourth round (2026-12-07, eleventh session): the structural step, in part.** Counted with
//! the same callgrind command. Where the instructions went first: copying ids (every clone of a
//! `RecordId`, `Version` or pair id was an allocation and a copy: about 2,700 instructions a
//! change), inserting each next state into the plan's B-tree (about 1,500: a 250-byte value
//! shifted within nodes), hashing the same 150-byte Graph id four times, and allocation and
//! freeing throughout (`_int_malloc` alone 12.7%). What changed:
//! - ids are shared text (`Arc<str>`): a clone is a reference count; serialised as before;
//! - the planner gathers next states in a vector and builds the plan's map once from sorted
//!   entries (`planner/next_states.rs`);
//! - each changed record's id is hashed once for its lookups in the pair index and the touched
//!   pairs, and the pair found shares that id instead of reading a copy out of the packed bytes;
//! - `FieldPrints` keeps its codes and prints in one allocation (codes four to a word), which the
//!   packed index's bytes are read into as words;
//! - a pair's field writes are a sorted vector instead of a B-tree (`planner/field_writes.rs`);
//! - whether each side holds attendees is decided once per plan, not scanned for twice a change.
//!
//! Instructions inside `plan`: contacts (`contacts_1pct`) **746.4 → 575.9 million (−22.8%)**,
//! about 30,600 → 23,600 a change; events (`events_1pct`) 841.3 → 671.7 million (−20.2%). Allocations per plan of
//! 100 contact changes (divan's count): 3,034 → 1,680, and 530 → 352 KB. Wall time, binaries before and
//! after alternated, `--bench cost_per_change::contacts_1pct --sample-count 40`, divan's
//! medians: in a quiet hour 342–347 k changes/s before and 450–456 k after (at 10,000 pairs),
//! 289–304 k and 353–400 k (at 100,000), before the last two steps; later in the session the
//! host's noise moved the same binary by up to a factor of two between runs. At the session's end,
//! in a quieter moment, the first and the final binary alternated three times: medians 340–346 k
//! before and **476–484 k after** at 10,000 pairs (fastest samples 371–377 k and 502–514 k), and
//! 170–256 k and 224–367 k at 100,000 pairs. So `plan()` is at about 480 k contact changes per
//! second on one core, a few percent short of 500 k (its fastest samples pass it). What is left, per change:
//! printing the record (about 7,100: 22 fields, JSON written and hashed, which is what a stored
//! print is), decoding the touched pair (about 3,300: four ids and two tables allocated),
//! validation (about 2,700), building the operation and next state (about 4,100).
//!
//! **Fifth round (2026-12-07, twelfth session).** First a correction to how the rounds above
//! counted. This binary's `main` plans once, cold, over 1,000,000 contact pairs (20,000 changes:
//! the summary lines it prints) before divan runs, and `--toggle-collect` counts that plan too: it
//! was 478.7 of the 580.8 million instructions counted for `contacts_1pct` at this round's start
//! (a run whose filter matches no benchmark, `--bench nothing_matches_this`, counts it alone). So
//! the contacts figures above are mostly that cold plan (contacts at 1%, the same work per change)
//! and the events figures are events plus it. This round reports the three apart. What changed:
//! - the pairs a plan touches are looked up in the index in runs (64 changes), before any of the
//!   run's pairs is decoded
//!   (`TouchedPairs::of`, `PairIndex::find_record_hashed`): each lookup waits on three or four
//!   reads in a row (table, slot number, slot, the pair's bytes), and lookups that do not wait on
//!   a decode in between overlap those cache misses. Sampled with `perf record` (the VM has no
//!   hardware counters, so `cpu-clock`), the lookups went from 14% of a contacts plan's time to 7%;
//! - a touched pair's other record id is no longer looked up to learn whether the index files it
//!   under that pair: `PairIndex` remembers whether an id was ever filed under a second pair, and
//!   until then every pair holds its own (a property test holds the shortcut to the lookup through
//!   any run of inserts, moves, claims and removals);
//! - birthdays, organizers and timing's dates and times are printed from JSON written by hand
//!   (chrono's `Debug` form, held to serde_json for any date chrono holds by a property test);
//! - the last eight zone names looked up on a thread are remembered (chrono-tz hashes a name with
//!   SipHash to find it);
//! - an event's attendees are merged into its standard fields in order instead of all its fields
//!   being copied and sorted, and the attendees that changed are read from the record's prints
//!   instead of lower-casing every address again;
//! - an event whose prints hold the same fields as its pair's, attendees included (its attendees
//!   did not change, as is usual), is compared print by print in place, as a contact already was
//!   (in debug builds every such comparison is checked against the comparison by key);
//! - validation works out an event's start and end instants once (they were converted through
//!   their zone again for the end-before-start check).
//!
//! Instructions inside `plan` (same callgrind command): the cold plan 478.7 → 466.0 million
//! (−2.7%); the `contacts_1pct` benchmarks alone 102.1 → 99.6 million (−2.4%); the `events_1pct`
//! benchmarks alone **199.2 → 147.5 million (−26.0%)**, about 45,300 → 33,500 a change (a
//! contact change is about 23,000; the last step, 4.1 million, came after the wall times below
//! were taken). Wall time, the round's first and last binaries alternated
//! three times in a quiet moment (`--bench 'cost_per_change::(contacts|events)_1pct'
//! --sample-count 40`), divan's medians in k changes/s:
//!
//! | case              | before        | after             |
//! |-------------------|---------------|-------------------|
//! | contacts 1%, 10k  | 469, 473, 467 | **507, 502, 509** |
//! | contacts 1%, 100k | 413, 381, 392 | 428, 451, 440     |
//! | events 1%, 10k    | 224, 223, 224 | **300, 297, 298** |
//! | events 1%, 100k   | 173, 177, 207 | 252, 284, 158     |
//!
//! Fastest samples at contacts 1% of 10k: 494–499 k before, 527–539 k after; events 236–239 k and
//! 323–327 k. Earlier alternations the same hour, before the last step, read 478–480 k against
//! 501–505 k for contacts and 224–227 k against 274–275 k for events, and in a noisier moment
//! 463–473 k against 458–503 k and 212–227 k against 260–276 k. The 100% benchmarks moved within
//! noise (events 1–10% faster). The lookups go in runs of 64 changes (`LOOKUPS_AT_ONCE`), so a
//! first sync's many changes hold no long list; runs measured the same as one list for everything.
//!
//! A last check of the final binary (validation's instants included) against the first, two
//! alternations: contacts 497 and 494 k against 471 and 474 k, events 299 and 295 k against 214
//! and 226 k. So contacts plan at about 500 k changes per second on one core (medians of 494–509 k
//! at 10,000 pairs; the figure, reached only at the edge), and events at about 300 k: the 500 k is not reached for events. An event
//! costs more than a contact because of what it holds: each attendee is a named field (decoded
//! from the index, compared by name, copied into the next state), its times are converted
//! through their zone, its addresses and times validated, and its description is the longest
//! text printed.
//!
//! **Sixth round (2026-12-07, fourteenth session).** Counted with the same callgrind command,
//! each benchmark's run minus the cold plan's (`--bench nothing_matches_this`), which this round
//! also changed. What changed:
//! - an event's attendees are keyed and printed in one pass (`Record::attendee_prints`): a key is
//!   printed as it is whenever the attendee's own address matches it but for ASCII case, instead
//!   of being looked for again among the attendees and its address lower-cased a second time (an
//!   address with non-ASCII capitals still goes through `print`; a property test and a unit test
//!   hold the pass to `attendee_keys` and `print`, and debug builds check every print it makes);
//! - a decision's operations go straight into the plan instead of through a vector of their own;
//! - the attendee names of a record's prints are gathered in a vector sized once (it grew, then
//!   shrank when boxed);
//! - a record's prints are compared with its pair's as two slices of words, a field's key looked
//!   up only where they differ;
//! - validation hands an event's start and end instants on to its timing print
//!   (`validate::validate_timed`, `timing_print_at`), which converted both times through their
//!   zones a second time (a property test and a unit test hold the print made from the instants to
//!   the one made from the times, and debug builds check every such print). It costs contacts
//!   about 0.6% (a larger `Seen` moved around, one more call) and saves events 2.5%.
//!
//! Instructions inside `plan`: `events_1pct` alone **147.4 → 134.5 million (−8.7%)**, about 33,500
//! → 30,600 a change; `contacts_1pct` alone 100.5 → 98.1 million (−2.3%); the cold plan 470.2 →
//! 459.1 million (−2.4%). Wall time, the round's first binary and the one before the instants
//! step alternated three times (`--bench 'cost_per_change::(contacts|events)_1pct'
//! --sample-count 40`) on a host that moved the same binary by half between runs, divan's medians
//! in k changes/s (an alternation with the final binary later that hour read every binary about
//! 40% slower, the first one included, and told nothing apart):
//!
//! | case              | before        | after             |
//! |-------------------|---------------|-------------------|
//! | contacts 1%, 10k  | 475, 501, 328 | 509, 509, 482     |
//! | events 1%, 10k    | 197, 305, 262 | **319, 318, 314** |
//!
//! Fastest samples at events 1% of 10k: 298–331 k before, 349–354 k after. Tried and dropped:
//! checking an ASCII address in one pass (control characters and shape together) instead of
//! `check_text` then `email_shaped`: 10.8 million instructions more in the cold plan and 4.7
//! million more for events; five tight loops over a short address beat one loop that branches on
//! every byte. Events stay short of 500 k per second: what is left per change is decoding and
//! freeing the touched pair (about 8,500: ids, versions and both sides' prints with their
//! attendee names allocated anew), printing the record (about 7,900, of which the attendees
//! 2,500), building the operation and next state (about 5,200), validation (about 4,300, the
//! zone conversions among it), and `malloc` and `free` throughout (about a fifth).
//!
//! **Seventh round (2026-12-07, sixteenth session): the allocator.** The `tandem` binary now
//! allocates with jemalloc (`docs/operations.md`, "Allocator"), and so does this benchmark: its
//! `AllocProfiler` counts around `tikv_jemallocator::Jemalloc` instead of the system's allocator
//! (the counts in divan's table are the same; only the allocator under them changed). The planner's
//! code did not change. The binaries with each allocator alternated twice (`--bench
//! 'cost_per_change::(contacts|events)_1pct' --sample-count 40`), divan's medians in k changes/s:
//!
//! | case              | glibc    | jemalloc     |
//! |-------------------|----------|--------------|
//! | contacts 1%, 10k  | 501, 498 | **594, 590** |
//! | contacts 1%, 100k | 433, 423 | 420, 484     |
//! | events 1%, 10k    | 332, 330 | **437, 435** |
//! | events 1%, 100k   | 289, 296 | 321, 353     |
//!
//! So `plan()` runs about 590 k contact changes per second on one core, past the 500 k,
//! and events about 435 k, still short of it. A program embedding Tandem with glibc's allocator
//! sees the left column. The memory figures `main` prints moved a little with the allocator: the
//! index at 1,000,000 pairs **850 bytes per pair resident** with jemalloc against 793 with glibc's
//! (the heap it holds, 770 bytes a pair, is the same: the difference is the allocators' own
//! overhead), still under the 1 KB; `plan()`'s peak above the index and inputs 52.2 MiB
//! against 45.3 MiB for its 20,000 changes.
//!
//! **Eighth round (same session).** Counted with the callgrind command of the sixth round, on
//! jemalloc binaries: the plan's operations and next states, and the slots of the touched pairs,
//! are sized once from the number of changes (grown as they went, each doubling copied every
//! operation decided so far: about 1,500 instructions an event change, with jemalloc's
//! reallocations); an address's `@` is found as a byte instead of through `split_once('@')`,
//! whose character searcher cost about 150 instructions a call, several calls an event (a test
//! over combinations of spaces, `@`s and non-ASCII text holds the check to the one by
//! characters). Instructions inside `plan`:
//! `events_1pct` alone **128.3 → 119.2 million (−7.0%)**, about 29,200 → 27,100 a change;
//! `contacts_1pct` alone 93.2 → 92.1 million; the cold plan 452.0 → 441.9 million. Wall time on
//! this host that hour did not tell the binaries apart: the same binary's medians moved by up to
//! a factor of three between runs.
//!
//! Memory per pair: `main` prints a typical contact pair's `PairState` with its prints: 936 bytes
//! of data (176 inline, 360 of ids and versions with their reference counts, 400 of prints for 40
//! fields), 1,024 counting malloc's rounding of its seven allocations (912 and 1,032, with nine
//! allocations, while ids were `String`s; the prints took 1,600 bytes before issue 14, 2,064 for
//! the pair). The packed index does not hold `PairState`s, so its figure below is unchanged. The whole index at 1,000,000 pairs: **793 bytes per pair resident** (770 of heap, which
//! `main` also prints), with each pair packed into one allocation and three tables of slot
//! numbers; 2,053 with three hash maps of whole states and copied ids, 3,135 before that.
//!
//! The packed index costs the planner the decoding of the pairs its changes touch, and a lookup
//! of each touched pair's record ids in the index (so that a record claimed by two pairs is
//! planned as the index files it; since the fifth round, only in an index where an id has been
//! claimed by a second pair). Measured with both versions' binaries alternated,
//! `--bench cost_per_change --sample-count 30`, divan's medians, on a machine that was noisy that
//! hour (the same binary varied by up to 40% between runs): contacts 1% of 10k, unpacked
//! 168–190 k changes/s, packed 104–162 k; 1% of 100k 161–217 k and 115–153 k; 100% of 10k
//! 90–104 k and 55–83 k; 100% of 100k 92–97 k and 84 k. An earlier comparison, before the lookup
//! of record ids was added, put the packed index within noise at 1% (181–182 k against
//! 126–193 k). Call it 10–30% of the planner's throughput for 2.6 times less memory.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use divan::counter::ItemsCount;
use divan::{AllocProfiler, Bencher};
use tandem_core::capabilities::ObjectCapabilities;
use tandem_core::config::ObjectConfig;
use tandem_core::model::{ObjectKind, Record};
use tandem_core::plan::{Action, Plan};
use tandem_core::planner::{PairIndex, PlanInput, SideInput, fingerprints, plan};
use tandem_core::state::{Change, ChangeKind, FieldPrints, IdempotencyKey, PairState, RecordId, Side, SideState};

use support::Template;

/// Counts allocations around the `tandem` binary's allocator (`crates/tandem-service/src/main.rs`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: AllocProfiler<tikv_jemallocator::Jemalloc> = AllocProfiler::new(tikv_jemallocator::Jemalloc);

/// The system's allocator where jemalloc does not build (MSVC), as for the `tandem` binary there.
#[cfg(target_env = "msvc")]
#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

/// Mapped pairs per benchmark.
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

/// One change in this many pairs, on each side.
const CHANGE_EVERY: usize = 100;

/// One mailbox change in this many lands on a pair whose CRM record changed too.
const OVERLAP_EVERY: usize = 10;

/// A planner workload: the pairs and both sides' changes.
struct Scenario {
    pairs: PairIndex,
    crm: Vec<Change>,
    mailbox: Vec<Change>,
    /// Pairs changed on both sides.
    overlapping: usize,
    config: ObjectConfig,
    caps: ObjectCapabilities,
}

impl Scenario {
    fn input(&self) -> PlanInput<'_> {
        PlanInput {
            object: ObjectKind::Contact,
            config: &self.config,
            pairs: &self.pairs,
            mapped_pairs: self.pairs.len(),
            crm: SideInput { changes: &self.crm, capabilities: &self.caps },
            mailbox: SideInput { changes: &self.mailbox, capabilities: &self.caps },
            now: support::at(3_600),
            release_held_deletes: false,
            approved_deletes: &tandem_core::planner::NO_APPROVED_DELETES,
            mailbox_owner: None,
        }
    }

    fn changed_records(&self) -> usize {
        self.crm.len() + self.mailbox.len()
    }
}

/// Template `i`'s contact after a user edited one or two fields of it on one side.
fn edited(templates: &[Template], i: usize, side_seed: u64) -> Record {
    let Record::Contact(mut c) = templates[i % templates.len()].record.clone() else {
        unreachable!("the templates are contacts")
    };
    tandem_testkit::generate::edit_contact(side_seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15), &mut c);
    Record::Contact(c)
}

/// 1% of the CRM records edited, and a different 1% of the mailbox records, a tenth of them on
/// pairs whose CRM record was edited too. Returns (crm, mailbox, overlapping pairs).
fn changes(n: usize, templates: &[Template]) -> (Vec<Change>, Vec<Change>, usize) {
    let per_side = n / CHANGE_EVERY;
    let mut crm = Vec::with_capacity(per_side);
    let mut mailbox = Vec::with_capacity(per_side);
    let mut overlapping = 0;
    for k in 0..per_side {
        let i = k * CHANGE_EVERY;
        crm.push(Change {
            id: support::crm_id(i),
            version: support::crm_version(1),
            modified_at: Some(support::at(60)),
            sync_key: None,
            kind: ChangeKind::Upserted { record: edited(templates, i, support::SEED ^ 1) },
        });
        let j = if k % OVERLAP_EVERY == 0 {
            overlapping += 1;
            i
        } else {
            i + CHANGE_EVERY / 2
        };
        mailbox.push(Change {
            id: support::mailbox_id(j),
            version: support::mailbox_version(j, 1),
            modified_at: Some(support::at(120)),
            sync_key: None,
            kind: ChangeKind::Upserted { record: edited(templates, j, support::SEED ^ 2) },
        });
    }
    (crm, mailbox, overlapping)
}

fn index(n: usize, templates: &[Template]) -> PairIndex {
    PairIndex::new((0..n).map(|i| support::pair(i, templates)))
}

fn build(n: usize) -> Scenario {
    let templates = support::templates();
    let (crm, mailbox, overlapping) = changes(n, &templates);
    Scenario {
        pairs: index(n, &templates),
        crm,
        mailbox,
        overlapping,
        config: ObjectConfig::default(),
        caps: ObjectCapabilities::everything(ObjectKind::Contact),
    }
}

/// Scenarios are built once per size and shared by the benches (the 1,000,000-pair one takes
/// seconds to build).
static SCENARIOS: LazyLock<Mutex<HashMap<usize, Arc<Scenario>>>> = LazyLock::new(Default::default);

fn scenario(n: usize) -> Arc<Scenario> {
    let mut cache = SCENARIOS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    cache
        .entry(n)
        .or_insert_with(|| {
            let s = Arc::new(build(n));
            check(&s, &plan(&s.input()));
            s
        })
        .clone()
}

/// The plan does what the scenario means: every change lands on its pair (nothing is created,
/// linked or quarantined) and produces writes.
fn check(s: &Scenario, p: &Plan) {
    let counts = p.counts();
    for unexpected in ["create", "link", "quarantine", "skip", "hold_delete"] {
        assert_eq!(counts.get(unexpected), None, "{unexpected} in a plan of edits to mapped pairs: {counts:?}");
    }
    let updates = counts.get("update").copied().unwrap_or(0);
    // A pair edited on both sides may need no write at all (the same edit made twice).
    assert!(updates >= s.changed_records() - 2 * s.overlapping, "too few updates: {counts:?}");
    assert!(p.states.len() >= s.changed_records() - s.overlapping, "too few pair states: {}", p.states.len());
}

mod plan_1pct_changed {
    use super::*;

    /// Throughput over the mapped set: N pairs per plan() call, 99% of them untouched.
    #[divan::bench(args = SIZES, sample_count = 30)]
    fn per_mapped_pair(bencher: Bencher<'_, '_>, n: usize) {
        let s = scenario(support::scaled(n, 200));
        let input = s.input();
        bencher.counter(ItemsCount::new(s.pairs.len())).bench_local(|| plan(divan::black_box(&input)));
    }

    /// The same work counted per changed record (both sides' changes): what plan() really
    /// processes.
    #[divan::bench(args = SIZES, sample_count = 30)]
    fn per_changed_record(bencher: Bencher<'_, '_>, n: usize) {
        let s = scenario(support::scaled(n, 200));
        let input = s.input();
        bencher.counter(ItemsCount::new(s.changed_records())).bench_local(|| plan(divan::black_box(&input)));
    }
}

/// Cost per change (issue 14): plan() over N mapped pairs of one kind with a share of them changed,
/// counted per changed record. Half the changes are CRM edits, half mailbox edits, a tenth of the
/// latter on pairs whose CRM record was edited too (so conflicts are settled as well).
mod cost_per_change {
    use super::*;

    /// Mapped pairs per plan() call.
    const PAIRS: [usize; 2] = [10_000, 100_000];

    #[divan::bench(args = PAIRS, sample_count = 5, sample_size = 1)]
    fn contacts_1pct(bencher: Bencher<'_, '_>, n: usize) {
        run(bencher, ObjectKind::Contact, n, 1);
    }

    #[divan::bench(args = PAIRS, sample_count = 5, sample_size = 1)]
    fn contacts_100pct(bencher: Bencher<'_, '_>, n: usize) {
        run(bencher, ObjectKind::Contact, n, 100);
    }

    #[divan::bench(args = PAIRS, sample_count = 5, sample_size = 1)]
    fn events_1pct(bencher: Bencher<'_, '_>, n: usize) {
        run(bencher, ObjectKind::Event, n, 1);
    }

    #[divan::bench(args = PAIRS, sample_count = 5, sample_size = 1)]
    fn events_100pct(bencher: Bencher<'_, '_>, n: usize) {
        run(bencher, ObjectKind::Event, n, 100);
    }

    fn run(bencher: Bencher<'_, '_>, kind: ObjectKind, n: usize, pct: usize) {
        let s = workload(kind, support::scaled(n, 200), pct);
        let input = s.input();
        let p = plan(&input);
        assert!(p.operations.iter().any(|o| matches!(o.action, Action::Update { .. })), "{:?}", p.counts());
        for unexpected in ["create", "link", "quarantine", "hold_delete"] {
            assert_eq!(p.counts().get(unexpected), None, "{unexpected}: {:?}", p.counts());
        }
        bencher.counter(ItemsCount::new(s.changed())).bench_local(|| plan(divan::black_box(&input)));
    }
}

/// A cost-per-change workload: `n` pairs of one kind, `pct` percent of them changed.
struct Workload {
    kind: ObjectKind,
    pairs: PairIndex,
    crm: Vec<Change>,
    mailbox: Vec<Change>,
    config: ObjectConfig,
    caps: ObjectCapabilities,
}

impl Workload {
    fn input(&self) -> PlanInput<'_> {
        PlanInput {
            object: self.kind,
            config: &self.config,
            pairs: &self.pairs,
            mapped_pairs: self.pairs.len(),
            crm: SideInput { changes: &self.crm, capabilities: &self.caps },
            mailbox: SideInput { changes: &self.mailbox, capabilities: &self.caps },
            now: support::at(3_600),
            release_held_deletes: false,
            approved_deletes: &tandem_core::planner::NO_APPROVED_DELETES,
            mailbox_owner: None,
        }
    }

    fn changed(&self) -> usize {
        self.crm.len() + self.mailbox.len()
    }
}

/// 1,000 normalised records of `kind` and the prints plan() keeps for them.
fn kind_templates(kind: ObjectKind, config: &ObjectConfig, caps: &ObjectCapabilities) -> Vec<(Record, FieldPrints)> {
    let records: Vec<Record> = match kind {
        ObjectKind::Contact => tandem_testkit::generate::contacts(support::SEED, support::TEMPLATES)
            .into_iter()
            .map(Record::Contact)
            .collect(),
        ObjectKind::Event => {
            let anchor = support::at(0).date_naive();
            tandem_testkit::generate::events(support::SEED, support::TEMPLATES, anchor)
                .into_iter()
                .map(Record::Event)
                .collect()
        }
    };
    records
        .into_iter()
        .map(|mut r| {
            r.normalize();
            let prints = fingerprints(config, caps, Side::Crm, &r);
            (r, prints)
        })
        .collect()
}

fn kind_edited(templates: &[(Record, FieldPrints)], i: usize, side_seed: u64) -> Record {
    let seed = side_seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    match templates[i % templates.len()].0.clone() {
        Record::Contact(mut c) => {
            tandem_testkit::generate::edit_contact(seed, &mut c);
            Record::Contact(c)
        }
        Record::Event(mut e) => {
            tandem_testkit::generate::edit_event(seed, &mut e);
            Record::Event(e)
        }
    }
}

/// A workload's identity: object kind, pairs, percent changed.
type WorkloadKey = (ObjectKind, usize, usize);

/// Cached per (kind, n, pct): the 100,000-pair workloads take a while to build.
static WORKLOADS: LazyLock<Mutex<HashMap<WorkloadKey, Arc<Workload>>>> = LazyLock::new(Default::default);

fn workload(kind: ObjectKind, n: usize, pct: usize) -> Arc<Workload> {
    let mut cache = WORKLOADS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    cache.entry((kind, n, pct)).or_insert_with(|| Arc::new(build_workload(kind, n, pct))).clone()
}

/// `pct`% of the pairs changed: CRM edits on every `stride`-th pair, mailbox edits half a stride
/// further, every tenth mailbox edit on a pair whose CRM record was edited too.
fn build_workload(kind: ObjectKind, n: usize, pct: usize) -> Workload {
    let config = match kind {
        ObjectKind::Contact => ObjectConfig::default(),
        ObjectKind::Event => ObjectConfig::events_default(),
    };
    let caps = ObjectCapabilities::everything(kind);
    let templates = kind_templates(kind, &config, &caps);
    let crm_id =
        |i: usize| RecordId::from(format!("{}Hs{i:013}", if kind == ObjectKind::Contact { "003" } else { "00U" }));
    let pairs = PairIndex::new((0..n).map(|i| {
        let prints = &templates[i % templates.len()].1;
        let crm = crm_id(i);
        PairState {
            pair_id: IdempotencyKey::derive(kind, Side::Crm, &crm),
            object: kind,
            crm: SideState { id: crm, version: support::crm_version(0), fields: prints.clone() },
            mailbox: SideState {
                id: support::mailbox_id(i),
                version: support::mailbox_version(i, 0),
                fields: prints.clone(),
            },
            synced_at: support::at(0),
            tombstone: None,
        }
    }));
    let per_side = (n * pct / 100 / 2).max(1);
    let stride = (n / per_side).max(1);
    let mut crm = Vec::with_capacity(per_side);
    let mut mailbox = Vec::with_capacity(per_side);
    for k in 0..per_side {
        let i = k * stride;
        crm.push(Change {
            id: crm_id(i),
            version: support::crm_version(1),
            modified_at: Some(support::at(60)),
            sync_key: None,
            kind: ChangeKind::Upserted { record: kind_edited(&templates, i, support::SEED ^ 1) },
        });
        let j = if k % OVERLAP_EVERY == 0 || stride < 2 { i } else { i + stride / 2 };
        mailbox.push(Change {
            id: support::mailbox_id(j),
            version: support::mailbox_version(j, 1),
            modified_at: Some(support::at(120)),
            sync_key: None,
            kind: ChangeKind::Upserted { record: kind_edited(&templates, j, support::SEED ^ 2) },
        });
    }
    Workload { kind, pairs, crm, mailbox, config, caps }
}

/// Building the index (not part of plan(): the engine loads only the pairs a cycle's changes
/// touch). Here for its allocation profile: with the counting allocator, divan's "alloc" minus
/// "dealloc" bytes is the heap the index holds, and "max alloc" its peak while growing.
#[divan::bench(args = [100_000, 1_000_000], sample_count = 3, sample_size = 1)]
fn pair_index_build(bencher: Bencher<'_, '_>, n: usize) {
    let n = support::scaled(n, 100);
    let templates = support::templates();
    bencher.counter(ItemsCount::new(n)).bench_local(|| index(n, &templates));
}

/// Memory and one timed run at 1,000,000 pairs, printed once.
fn report(n: usize) {
    let templates = support::templates();
    let (crm, mailbox, overlapping) = changes(n, &templates);
    let rss_before = support::proc_status_bytes("VmRSS");
    let pairs = index(n, &templates);
    let rss_index = support::proc_status_bytes("VmRSS").saturating_sub(rss_before);
    let heap_index = pairs.heap_bytes();
    let s = Scenario {
        pairs,
        crm,
        mailbox,
        overlapping,
        config: ObjectConfig::default(),
        caps: ObjectCapabilities::everything(ObjectKind::Contact),
    };
    let input = s.input();
    let peak_known = support::reset_peak_rss();
    let rss_base = support::proc_status_bytes("VmRSS");
    let started = Instant::now();
    let p = plan(&input);
    let elapsed = started.elapsed().as_secs_f64();
    let rss_peak = support::proc_status_bytes("VmHWM").saturating_sub(rss_base);
    check(&s, &p);
    let counts = p.counts();
    let changed = s.changed_records();
    println!(
        "planner, {n} mapped contact pairs; {} CRM and {} mailbox changes (1% of each side), {overlapping} pairs changed on both sides",
        s.crm.len(),
        s.mailbox.len()
    );
    println!(
        "  PairIndex: {:.0} MiB resident = {:.0} bytes per mapped pair (VmRSS delta: pair states, field prints, ids, three hash maps, allocator overhead)",
        support::mib(rss_index as f64),
        rss_index as f64 / n as f64
    );
    println!(
        "  PairIndex: {:.0} bytes per mapped pair of heap it holds (packed pairs, slots, three tables of slot numbers; no allocator overhead)",
        heap_index as f64 / n as f64
    );
    if peak_known {
        println!(
            "  plan(): peak resident memory above the index and inputs {:.1} MiB = {:.1} bytes per mapped pair = {:.0} bytes per changed record",
            support::mib(rss_peak as f64),
            rss_peak as f64 / n as f64,
            rss_peak as f64 / changed as f64
        );
    } else {
        println!("  plan(): peak resident memory unknown (cannot reset VmHWM through /proc/self/clear_refs)");
    }
    println!(
        "  one plan() run (cold): {:.1} ms = {:.2} M mapped pairs/s = {:.0} k changed records/s; plan: {counts:?}",
        elapsed * 1e3,
        n as f64 / elapsed / 1e6,
        changed as f64 / elapsed / 1e3
    );
    println!(
        "  the 2,000,000 records/s target is read as mapped pairs per second (N / time, divan's plan_1pct_changed::per_mapped_pair); \
         plan() only reads the {changed} changed records and looks their pairs up, so per_changed_record is the rate of real work"
    );
    println!(
        "  divan: \"max alloc\" is the heap peak of one call, counted by the allocator; pair_index_build's alloc - dealloc is the index's heap"
    );
    let writes = p.operations.iter().filter(|o| matches!(o.action, Action::Update { .. })).count();
    assert!(writes > 0);
}

/// Memory per mapped pair (issue 14: under 1 KB): a typical contact pair's `PairState` (its own
/// size plus the heap its ids, versions and field prints hold), averaged over the templates. The
/// ids are shared text (`Arc<str>`: their bytes and a 16-byte header of counts), then counted with
/// glibc's chunk rounding (8 bytes of header, 16-byte steps, 32 bytes at least) on each of the
/// pair's seven allocations (five ids, one table of prints per side).
fn pair_memory() {
    let templates = support::templates();
    let n = templates.len() as f64;
    let chunk = |bytes: usize| if bytes == 0 { 0 } else { (bytes + 8).div_ceil(16).max(2) * 16 };
    let (mut data, mut rounded, mut prints, mut fields) = (0usize, 0usize, 0usize, 0usize);
    for i in 0..templates.len() {
        let p = support::pair(i, &templates);
        let strings = [&p.pair_id.0, &p.crm.id.0, &p.crm.version.0, &p.mailbox.id.0, &p.mailbox.version.0];
        // An `Arc<str>` allocation: the two reference counts, then the text.
        let shared = |s: &str| 16 + s.len();
        data += strings.iter().map(|s| shared(s)).sum::<usize>();
        rounded += strings.iter().map(|s| chunk(shared(s))).sum::<usize>();
        for side in [&p.crm, &p.mailbox] {
            let heap = side.fields.heap_bytes();
            prints += heap;
            fields += side.fields.len();
            // One allocation (codes and prints) for a contact's prints, which name no field.
            rounded += chunk(heap);
        }
    }
    let inline = std::mem::size_of::<PairState>();
    // What the same prints took as a `Vec<(FieldKey, u64)>` (the layout before issue 14).
    let entry = std::mem::size_of::<(tandem_core::fields::FieldKey, u64)>();
    println!(
        "  PairState of a typical contact pair: {:.0} bytes ({:.0} with malloc rounding) = {inline} inline + {:.0} of ids and \
         versions + {:.0} of field prints ({:.0} fields; as the former Vec<(FieldKey, u64)> they took {:.0} bytes)",
        inline as f64 + (data + prints) as f64 / n,
        inline as f64 + rounded as f64 / n,
        data as f64 / n,
        prints as f64 / n,
        fields as f64 / n,
        (fields * entry) as f64 / n,
    );
}

fn main() {
    pair_memory();
    if support::full_run() {
        report(1_000_000);
    } else {
        report(support::scaled(1_000_000, 1_000));
    }
    divan::main();
}
