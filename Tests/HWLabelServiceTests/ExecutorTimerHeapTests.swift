import CHWLabelExecutor
import Testing

/// The timer heap of the agent's executor (Sources/CHWLabelExecutor): the earliest deadline
/// leaves first, equal deadlines in the order they were pushed, at any size.
@Suite("Executor: timer heap")
struct ExecutorTimerHeapTests {
    /// Pops everything: (deadline, context tag) in pop order.
    static func drain(_ heap: inout hwl_timer_heap) -> [(at: UInt64, tag: Int)] {
        var out: [(UInt64, Int)] = []
        var t = hwl_timer()
        while hwl_timer_heap_pop(&heap, &t) == 0 {
            out.append((t.at, Int(bitPattern: t.context)))
        }
        return out
    }

    static func push(_ heap: inout hwl_timer_heap, at: UInt64, tag: Int) {
        hwl_timer_heap_push(&heap, at, nil, nil, UnsafeMutableRawPointer(bitPattern: tag))
    }

    @Test func emptyHeapHasNothingToPopOrPeek() {
        var heap = hwl_timer_heap()
        var t = hwl_timer()
        var at: UInt64 = 0
        #expect(hwl_timer_heap_pop(&heap, &t) == -1)
        #expect(hwl_timer_heap_peek(&heap, &at) == -1)
        hwl_timer_heap_free(&heap)
    }

    @Test func earliestDeadlineFirst() {
        var heap = hwl_timer_heap()
        defer { hwl_timer_heap_free(&heap) }
        for (i, at) in [50, 10, 40, 30, 20].enumerated() { Self.push(&heap, at: UInt64(at), tag: i + 1) }
        var at: UInt64 = 0
        #expect(hwl_timer_heap_peek(&heap, &at) == 0 && at == 10)
        #expect(heap.count == 5)
        #expect(Self.drain(&heap).map(\.at) == [10, 20, 30, 40, 50])
        #expect(heap.count == 0)
    }

    @Test func equalDeadlinesLeaveInPushOrder() {
        var heap = hwl_timer_heap()
        defer { hwl_timer_heap_free(&heap) }
        // Interleaved with other deadlines, so sift-up and sift-down both meet the ties.
        for tag in 1...40 { Self.push(&heap, at: tag % 3 == 0 ? 7 : UInt64(100 - tag), tag: tag) }
        let popped = Self.drain(&heap)
        let sevens = popped.filter { $0.at == 7 }.map(\.tag)
        #expect(sevens == (1...40).filter { $0 % 3 == 0 })
        #expect(popped.map(\.at) == popped.map(\.at).sorted())
    }

    @Test func entriesKeepTheirJobOrCallback() {
        var heap = hwl_timer_heap()
        defer { hwl_timer_heap_free(&heap) }
        let job = UnsafeMutableRawPointer(bitPattern: 0x1000)
        hwl_timer_heap_push(&heap, 2, job, nil, nil)
        hwl_timer_heap_push(&heap, 1, nil, { _ in }, UnsafeMutableRawPointer(bitPattern: 0x2000))
        var t = hwl_timer()
        #expect(hwl_timer_heap_pop(&heap, &t) == 0)
        #expect(t.at == 1 && t.job == nil && t.fn != nil && t.context == UnsafeMutableRawPointer(bitPattern: 0x2000))
        #expect(hwl_timer_heap_pop(&heap, &t) == 0)
        #expect(t.at == 2 && t.job == job && t.fn == nil)
    }

    /// Many timers, pushed and popped in rounds (the heap grows past its first allocations and
    /// is refilled after shrinking): every pop is the minimum of what is left, ties in push order.
    @Test func manyTimersInRounds() {
        var heap = hwl_timer_heap()
        defer { hwl_timer_heap_free(&heap) }
        var rng = SplitMix(seed: 0x5EED)
        var model: [(at: UInt64, seq: Int)] = []
        var seq = 0
        for round in 0..<20 {
            for _ in 0..<(round % 2 == 0 ? 1_000 : 300) {
                let at = rng.next() % 500 // many equal deadlines
                Self.push(&heap, at: at, tag: seq)
                model.append((at, seq))
                seq += 1
            }
            model.sort { ($0.at, $0.seq) < ($1.at, $1.seq) }
            let take = round % 2 == 0 ? 400 : 700
            var t = hwl_timer()
            for expected in model.prefix(take) {
                guard hwl_timer_heap_pop(&heap, &t) == 0 else {
                    Issue.record("round \(round): heap empty early")
                    return
                }
                #expect(t.at == expected.at && Int(bitPattern: t.context) == expected.seq, "round \(round)")
            }
            model.removeFirst(min(take, model.count))
            #expect(heap.count == model.count)
        }
        #expect(Self.drain(&heap).map(\.tag) == model.map(\.seq))
    }
}

/// A small deterministic generator, so a failure reproduces.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
