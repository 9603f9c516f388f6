import Glibc
@testable import HWLabelProbe
import Synchronization
import HWLabelTestSupport
import Testing

/// The parallel loops (Parallel.forEach / map / chunks / mapChunks / chunkedMap, on threads of their own).
@Suite("Probe: parallel loops")
struct ProbeParallelTests {
    final class Counted: Sendable {
        static let alive = Atomic<Int>(0)
        let index: Int
        init(_ index: Int) {
            self.index = index
            Self.alive.add(1, ordering: .relaxed)
        }
        deinit { Self.alive.add(-1, ordering: .relaxed) }
    }

    @Test("map returns every result in index order, whatever thread built it")
    func mapInOrder() {
        for count in [0, 1, 2, 7, 1000] {
            let squares = Parallel.map(count) { $0 * $0 }
            #expect(squares == (0..<count).map { $0 * $0 })
        }
    }

    @Test("forEach runs each index exactly once")
    func forEachOnce() {
        let hits = Mutex([Int](repeating: 0, count: 500))
        Parallel.forEach(iterations: 500) { i in hits.withLock { $0[i] += 1 } }
        #expect(hits.withLock { $0 } == [Int](repeating: 1, count: 500))
    }

    /// The agent scans for as long as it runs: results handed back through per-thread slots
    /// must be freed with the array. (Slots deallocated without deinitializing leaked every
    /// scan's functions and descriptors, 2.3 MB a scan at 1,000 functions.)
    @Test("results are released with the array that holds them")
    func resultsAreReleased() {
        let before = Counted.alive.load(ordering: .relaxed)
        do {
            let objects = Parallel.map(64) { [Counted($0), Counted($0)] }
            #expect(objects.count == 64 && objects[63][1].index == 63)
            #expect(Counted.alive.load(ordering: .relaxed) - before == 128)
        }
        #expect(Counted.alive.load(ordering: .relaxed) == before)
    }

    /// The ranges cover `0..<count` in order, contiguous, none empty (but the one for no items),
    /// as many as asked and no more, sizes within one of each other.
    static func checkChunks(_ ranges: [Range<Int>], count: Int, expected: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(ranges.count == expected, "count \(count)", sourceLocation: sourceLocation)
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == count, sourceLocation: sourceLocation)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, sourceLocation: sourceLocation)
        if count > 0 {
            #expect(ranges.allSatisfy { !$0.isEmpty }, sourceLocation: sourceLocation)
            let sizes = ranges.map(\.count)
            #expect(sizes.dropLast().allSatisfy { $0 == sizes[0] } && sizes.last! <= sizes[0], sourceLocation: sourceLocation)
        }
    }

    @Test("chunks: one below the threshold, up to maxChunks above, never more than the items, one for none")
    func chunkEdges() {
        Self.checkChunks(Parallel.chunks(0, serialBelow: 10), count: 0, expected: 1)
        #expect(Parallel.chunks(0, serialBelow: 0) == [0..<0])
        Self.checkChunks(Parallel.chunks(1, serialBelow: 0, maxChunks: 8), count: 1, expected: 1)
        Self.checkChunks(Parallel.chunks(9, serialBelow: 10, maxChunks: 8), count: 9, expected: 1)
        // Fewer items than chunks wanted (n < cores): one item each.
        Self.checkChunks(Parallel.chunks(3, serialBelow: 1, maxChunks: 8), count: 3, expected: 3)
        // Not divisible: 10 into 4 is 3+3+3+1.
        #expect(Parallel.chunks(10, serialBelow: 1, maxChunks: 4) == [0..<3, 3..<6, 6..<9, 9..<10])
        Self.checkChunks(Parallel.chunks(1000, serialBelow: 256, maxChunks: 7), count: 1000, expected: 7)
        // 9 into 6 by ceil(9/6) = 2 gives 5 ranges: as many as the size allows, never more than asked.
        Self.checkChunks(Parallel.chunks(9, serialBelow: 1, maxChunks: 6), count: 9, expected: 5)
        // The default: one per core, at most 8.
        Self.checkChunks(Parallel.chunks(10_000, serialBelow: 1), count: 10_000, expected: min(Parallel.cores, 8))
    }

    @Test("chunks by size: one below the threshold, the last one shorter, one for none")
    func chunksBySize() {
        #expect(Parallel.chunks(0, serialBelow: 0, size: 4) == [0..<0])
        #expect(Parallel.chunks(10, serialBelow: 11, size: 4) == [0..<10])
        #expect(Parallel.chunks(10, serialBelow: 10, size: 4) == [0..<4, 4..<8, 8..<10])
        #expect(Parallel.chunks(8, serialBelow: 0, size: 4) == [0..<4, 4..<8])
        // A size below one is one.
        #expect(Parallel.chunks(2, serialBelow: 0, size: 0) == [0..<1, 1..<2])
    }

    @Test("chunkedMap and mapChunks keep the items' order, on slices of any start index", arguments: [0, 1, 2, 7, 255, 256, 1001])
    func chunkedMapInOrder(count: Int) {
        let items = Array(0..<count)
        for serialBelow in [0, 256] {
            #expect(Parallel.chunkedMap(items, serialBelow: serialBelow) { $0 * 3 } == items.map { $0 * 3 })
            #expect(Parallel.chunkedMap(items, serialBelow: serialBelow, chunkSize: 5) { $0 * 3 } == items.map { $0 * 3 })
            let (a, b) = Parallel.chunkedUnzip(items, serialBelow: serialBelow, chunkSize: 5) { ($0, -$0) }
            #expect(a == items && b == items.map { -$0 })
            let parts = Parallel.mapChunks(items, serialBelow: serialBelow, chunkSize: 5, state: 0) { _, chunk in Array(chunk) }
            #expect(parts.count == Parallel.chunks(count, serialBelow: serialBelow, size: 5).count)
            #expect(Array(parts.joined()) == items)
        }
        // A slice whose indices do not start at 0.
        let tail = items.dropFirst(count / 2)
        #expect(Parallel.chunkedMap(tail, serialBelow: 0, chunkSize: 3) { $0 } == Array(tail))
        #expect(Array(Parallel.mapChunks(tail, serialBelow: 0, chunkSize: 3, state: 0) { _, c in Array(c) }.joined()) == Array(tail))
    }

    @Test("mapChunks calls its body once for no items (per-thread set-up still runs)")
    func mapChunksOnEmpty() {
        let states = Atomic<Int>(0)
        let calls = Parallel.mapChunks([Int](), serialBelow: 256, chunkSize: 64, state: states.add(1, ordering: .relaxed)) { _, c in
            c.count
        }
        #expect(calls == [0])
        #expect(states.load(ordering: .relaxed) == 1)
    }

    /// Each thread makes its state once and keeps it across the chunks it takes: with one chunk
    /// per item, the states made number at most the threads, and every chunk saw a state that
    /// its own thread made (the count each state kept adds up to the chunks).
    @Test("mapChunks makes one state per thread, not per chunk, and never shares one")
    func mapChunksStatePerThread() {
        final class Tally: @unchecked Sendable {
            let owner = pthread_self()
            var chunks = 0
        }
        let made = Mutex<[Tally]>([])
        func make() -> Tally {
            let t = Tally()
            made.withLock { $0.append(t) }
            return t
        }
        let sameThread = Parallel.mapChunks(Array(0..<400), serialBelow: 0, chunkSize: 1, state: make()) { tally, _ in
            tally.chunks += 1
            return pthread_equal(tally.owner, pthread_self()) != 0
        }
        #expect(sameThread.count == 400 && sameThread.allSatisfy { $0 })
        let tallies = made.withLock { $0 }
        #expect(tallies.count >= 1 && tallies.count <= Parallel.cores)
        #expect(tallies.map(\.chunks).reduce(0, +) == 400)
    }
}
