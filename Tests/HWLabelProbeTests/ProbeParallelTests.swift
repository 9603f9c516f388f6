@testable import HWLabelProbe
import Synchronization
import HWLabelTestSupport
import Testing

/// The scan's parallel loops (Parallel.forEach / Parallel.map, on threads of their own).
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
}
