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

    @Test("chunkedMap and mapChunks keep the items' order, on slices of any start index", arguments: [0, 1, 2, 7, 255, 256, 1001])
    func chunkedMapInOrder(count: Int) {
        let items = Array(0..<count)
        for serialBelow in [0, 256] {
            #expect(Parallel.chunkedMap(items, serialBelow: serialBelow) { $0 * 3 } == items.map { $0 * 3 })
            let parts = Parallel.mapChunks(items, serialBelow: serialBelow, maxChunks: 5) { Array($0) }
            #expect(parts.count == Parallel.chunks(count, serialBelow: serialBelow, maxChunks: 5).count)
            #expect(Array(parts.joined()) == items)
        }
        // A slice whose indices do not start at 0.
        let tail = items.dropFirst(count / 2)
        #expect(Parallel.chunkedMap(tail, serialBelow: 0, maxChunks: 3) { $0 } == Array(tail))
        #expect(Array(Parallel.mapChunks(tail, serialBelow: 0, maxChunks: 3) { Array($0) }.joined()) == Array(tail))
    }

    @Test("mapChunks calls its body once for no items (per-chunk set-up still runs)")
    func mapChunksOnEmpty() {
        let calls = Parallel.mapChunks([Int](), serialBelow: 256) { $0.count }
        #expect(calls == [0])
    }
}
