import Glibc
import Synchronization

/// Runs independent pieces of work on the machine's cores, on threads of its own.
///
/// Not `DispatchQueue.concurrentPerform`: its workers belong to libdispatch's global queues,
/// and once one has run, libdispatch's pool monitor wakes the process every second for good
/// (swift-corelibs-libdispatch, src/event/workqueue.c), which an idle agent must not do.
/// Spawning a thread per core for one call costs tens of microseconds; the calls here each
/// cover thousands of functions.
package enum Parallel {
    /// Calls `body` for every index in `0..<iterations`, on up to one thread per core (the
    /// caller's included), each thread taking the next index; returns when all have run.
    package static func forEach(iterations: Int, _ body: (Int) -> Void) {
        workers(iterations: iterations) { next in
            while let i = next() { body(i) }
        }
    }

    /// Runs `worker` once on each of up to one thread per core (the caller's included, never
    /// more threads than `iterations`). Each worker takes the indices of `0..<iterations` one
    /// at a time from a shared counter through `next` (nil once none is left), so a worker can
    /// keep state of its own across the indices it takes; returns when every worker has.
    package static func workers(iterations: Int, _ worker: (_ next: () -> Int?) -> Void) {
        let threads = min(iterations, ProcessInfoLite.cores)
        guard threads > 1 else {
            var i = 0
            worker {
                guard i < iterations else { return nil }
                i += 1
                return i - 1
            }
            return
        }
        withoutActuallyEscaping(worker) { worker in
            let work = Work(iterations: iterations, worker: worker)
            var spawned: [pthread_t] = []
            for _ in 1..<threads {
                var t = pthread_t()
                let rc = pthread_create(
                    &t, nil,
                    { context in
                        Unmanaged<Work>.fromOpaque(context!).takeUnretainedValue().drain()
                        return nil
                    }, Unmanaged.passUnretained(work).toOpaque())
                if rc == 0 { spawned.append(t) } // no thread: the others take its share
            }
            work.drain()
            for t in spawned { pthread_join(t, nil) }
        }
    }

    /// `body(i)` for every index in `0..<count`, computed as `forEach` does, in index order.
    /// Each result is built in its own slot of the array, which then owns it.
    package static func map<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
        Array(unsafeUninitializedCapacity: count) { buffer, initialized in
            nonisolated(unsafe) let slots = buffer
            forEach(iterations: count) { i in (slots.baseAddress! + i).initialize(to: body(i)) }
            initialized = count
        }
    }

    /// `produce(i)` for every index in `0..<count` on the machine's cores, and `consume(i, value)`
    /// on the calling thread in index order as each value is ready. No index is produced more
    /// than `window` ahead of the one being consumed, so at most `window` values are held at a
    /// time: for output that is encoded in parallel and written, in order, as it goes. On one
    /// core (or for a single index) each value is produced and consumed in turn.
    package static func ordered<T>(
        _ count: Int, window: Int, produce: (Int) -> T, consume: (Int, T) -> Void
    ) {
        let threads = min(count, ProcessInfoLite.cores)
        guard threads > 1 else {
            for i in 0..<count { consume(i, produce(i)) }
            return
        }
        // Value `i` lives in slot `i` from the producer's `done(i)` to the consumer's `wait(i)`;
        // the gate's mutex orders the two.
        let slots = UnsafeMutablePointer<T?>.allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
        defer {
            slots.deinitialize(count: count)
            slots.deallocate()
        }
        nonisolated(unsafe) let shared = slots
        let store = { (i: Int) in shared[i] = produce(i) }
        withoutActuallyEscaping(store) { body in
            let gate = OrderGate(count: count, window: max(1, window), body: body)
            var spawned: [pthread_t] = []
            for _ in 0..<threads {
                var t = pthread_t()
                let rc = pthread_create(
                    &t, nil,
                    { context in
                        Unmanaged<OrderGate>.fromOpaque(context!).takeUnretainedValue().drain()
                        return nil
                    }, Unmanaged.passUnretained(gate).toOpaque())
                if rc == 0 { spawned.append(t) }
            }
            for i in 0..<count {
                // No thread could be started: produce on this one.
                if spawned.isEmpty { gate.produceNext() }
                gate.wait(i)
                let value = shared[i]!
                shared[i] = nil
                gate.consumed(i)
                consume(i, value)
            }
            for t in spawned { pthread_join(t, nil) }
        }
    }

    /// Online CPUs: how many threads `forEach` runs on.
    package static var cores: Int { ProcessInfoLite.cores }

    /// How `count` items are cut into contiguous ranges, in order, for the chunked maps: one
    /// range below `serialBelow` items (threads would cost more than they save), otherwise up to
    /// `maxChunks` of nearly equal size (one per core, at most 8, unless the caller wants more
    /// to balance unequal work). Always at least one range (`0..<0` for no items), so per-chunk
    /// set-up runs, and fails, even when there is nothing to do.
    package static func chunks(_ count: Int, serialBelow: Int, maxChunks: Int? = nil) -> [Range<Int>] {
        let wanted = count < serialBelow ? 1 : max(1, min(maxChunks ?? min(cores, 8), count))
        let size = max(1, (count + wanted - 1) / wanted)
        return chunks(count, size: size)
    }

    /// `count` items cut into contiguous ranges of `size` (the last may be shorter), one range
    /// below `serialBelow` items; `0..<0` for none. Many small chunks taken in turn keep every
    /// core busy to the end when some items cost more than others (a GPU's files against a
    /// VF's), where one chunk per core leaves a core idle while the slowest finishes.
    package static func chunks(_ count: Int, serialBelow: Int, size: Int) -> [Range<Int>] {
        count < serialBelow ? [0..<count] : chunks(count, size: max(1, size))
    }

    private static func chunks(_ count: Int, size: Int) -> [Range<Int>] {
        guard count > 0 else { return [0..<0] }
        return stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
    }

    /// `body` once per contiguous chunk of `items` (`chunks(_:serialBelow:size:)`), the chunks
    /// taken in turn by up to one thread per core, results in chunk order. Each thread makes
    /// its `state` (evaluated on that thread) once, before its first chunk, and passes it to every chunk it takes: for
    /// work that needs a handle of its own per thread (libpci's access objects are not
    /// thread-safe, and each loads the ID database once), without one per chunk.
    package static func mapChunks<C: RandomAccessCollection, S, R>(
        _ items: C, serialBelow: Int, chunkSize: Int, state: @autoclosure () -> S,
        _ body: (inout S, C.SubSequence) -> R
    ) -> [R] where C.Index == Int {
        let ranges = chunks(items.count, serialBelow: serialBelow, size: chunkSize)
        let start = items.startIndex
        return Array(unsafeUninitializedCapacity: ranges.count) { buffer, initialized in
            nonisolated(unsafe) let slots = buffer
            workers(iterations: ranges.count) { next in
                var s = state()
                while let i = next() {
                    let r = ranges[i]
                    (slots.baseAddress! + i).initialize(to: body(&s, items[(start + r.lowerBound)..<(start + r.upperBound)]))
                }
            }
            initialized = ranges.count
        }
    }

    /// `body` for every element of `items`, computed in chunks of `chunkSize` taken in turn
    /// by the machine's cores, results in the order of `items`. Each chunk writes its results
    /// into their places in the one result array: no per-chunk arrays joined afterwards (for
    /// thousands of descriptors, a second copy of all of them at the peak).
    package static func chunkedMap<C: RandomAccessCollection, T>(
        _ items: C, serialBelow: Int, chunkSize: Int = 128,
        _ body: (C.Element) -> T
    ) -> [T] where C.Index == Int {
        let ranges = chunks(items.count, serialBelow: serialBelow, size: chunkSize)
        guard ranges.count > 1 else { return items.map(body) }
        let start = items.startIndex
        return Array(unsafeUninitializedCapacity: items.count) { buffer, initialized in
            nonisolated(unsafe) let slots = buffer
            forEach(iterations: ranges.count) { r in
                for j in ranges[r] { (slots.baseAddress! + j).initialize(to: body(items[start + j])) }
            }
            initialized = items.count
        }
    }

    /// `chunkedMap` for a body that gives two results: each kind in its own array, so a caller
    /// that keeps one and reads the other through never holds both in pairs and again apart.
    package static func chunkedUnzip<C: RandomAccessCollection, A, B>(
        _ items: C, serialBelow: Int, chunkSize: Int = 128,
        _ body: (C.Element) -> (A, B)
    ) -> ([A], [B]) where C.Index == Int {
        let ranges = chunks(items.count, serialBelow: serialBelow, size: chunkSize)
        let start = items.startIndex, count = items.count
        var second: [B] = []
        let first = [A](unsafeUninitializedCapacity: count) { aBuffer, aInitialized in
            second = [B](unsafeUninitializedCapacity: count) { bBuffer, bInitialized in
                nonisolated(unsafe) let a = aBuffer
                nonisolated(unsafe) let b = bBuffer
                forEach(iterations: ranges.count) { r in
                    for j in ranges[r] {
                        let (x, y) = body(items[start + j])
                        (a.baseAddress! + j).initialize(to: x)
                        (b.baseAddress! + j).initialize(to: y)
                    }
                }
                bInitialized = count
            }
            aInitialized = count
        }
        return (first, second)
    }

    /// The indices `ordered` shares between its producing threads and its consumer: the next
    /// index to produce, which are done, and how many were taken, under one mutex with two
    /// conditions (a value is done; the window has room).
    private final class OrderGate: @unchecked Sendable {
        let count: Int
        let window: Int
        let body: (Int) -> Void
        private var next = 0
        private var taken = 0
        private var done: [Bool]
        private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let ready = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        private let room = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

        init(count: Int, window: Int, body: @escaping (Int) -> Void) {
            self.count = count
            self.window = window
            self.body = body
            done = Array(repeating: false, count: count)
            pthread_mutex_init(lock, nil)
            pthread_cond_init(ready, nil)
            pthread_cond_init(room, nil)
        }

        deinit {
            pthread_mutex_destroy(lock)
            pthread_cond_destroy(ready)
            pthread_cond_destroy(room)
            lock.deallocate()
            ready.deallocate()
            room.deallocate()
        }

        /// The next index to produce once the window has room for it; nil when none is left.
        private func claim() -> Int? {
            pthread_mutex_lock(lock)
            defer { pthread_mutex_unlock(lock) }
            while next < count, next >= taken + window { pthread_cond_wait(room, lock) }
            guard next < count else { return nil }
            next += 1
            return next - 1
        }

        private func finish(_ i: Int) {
            pthread_mutex_lock(lock)
            done[i] = true
            pthread_cond_broadcast(ready)
            pthread_mutex_unlock(lock)
        }

        /// Produces the next index, if one is left.
        func produceNext() {
            if let i = claim() {
                body(i)
                finish(i)
            }
        }

        func drain() {
            while let i = claim() {
                body(i)
                finish(i)
            }
        }

        /// Returns once index `i` is produced.
        func wait(_ i: Int) {
            pthread_mutex_lock(lock)
            while !done[i] { pthread_cond_wait(ready, lock) }
            pthread_mutex_unlock(lock)
        }

        /// Index `i` was consumed: the window moves on.
        func consumed(_ i: Int) {
            pthread_mutex_lock(lock)
            taken = i + 1
            pthread_cond_broadcast(room)
            pthread_mutex_unlock(lock)
        }
    }

    private final class Work: @unchecked Sendable {
        let iterations: Int
        let worker: (() -> Int?) -> Void
        let counter = Atomic<Int>(0)

        init(iterations: Int, worker: @escaping (() -> Int?) -> Void) {
            self.iterations = iterations
            self.worker = worker
        }

        /// The next index not yet taken by any thread; nil once none is left.
        func take() -> Int? {
            let i = counter.add(1, ordering: .relaxed).oldValue
            return i < iterations ? i : nil
        }

        func drain() { worker(take) }
    }
}
