import CHWLabelExecutor
import Foundation

/// The agent's timers (debounce, resync, settle, retries, watchdog). Under `hwlabel agent` they
/// sleep on hwlabel's executor (`hwl_executor_after`): Task.sleep goes through libdispatch's
/// global queues whatever the global executor is (Swift 6.2+), and libdispatch then keeps a
/// once-a-second monitor running for good. Elsewhere (tests, other commands) it is Task.sleep.
/// Cancellation ends the sleep at once with CancellationError, as Task.sleep does.
enum AgentSleep {
    static func sleep(seconds: Double) async throws {
        let ns = UInt64(max(0, seconds) * 1e9)
        guard hwl_executor_installed() != 0 else {
            try await Task.sleep(nanoseconds: ns)
            return
        }
        let sleeper = Sleeper()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                sleeper.start(c, after: ns)
            }
        } onCancel: {
            sleeper.finish(cancelled: true)
        }
    }

    /// Resumes its continuation once: when the timer fires or on cancellation, whichever is first.
    private final class Sleeper: @unchecked Sendable {
        private let state = LockedBox<(continuation: CheckedContinuation<Void, Error>?, done: Bool)>((nil, false))

        func start(_ c: CheckedContinuation<Void, Error>, after ns: UInt64) {
            let cancelledAlready = state.withLock { s -> Bool in
                if s.done { return true }
                s.continuation = c
                return false
            }
            if cancelledAlready { return c.resume(throwing: CancellationError()) }
            // The timer holds a reference until it fires (a cancelled sleep's timer fires as a no-op).
            let context = Unmanaged.passRetained(self).toOpaque()
            let scheduled = hwl_executor_after(
                ns,
                { context in
                    Unmanaged<Sleeper>.fromOpaque(context!).takeRetainedValue().finish(cancelled: false)
                }, context)
            if scheduled != 0 {
                Unmanaged<Sleeper>.fromOpaque(context).release()
                finish(cancelled: false)
            }
        }

        func finish(cancelled: Bool) {
            let c = state.withLock { s -> CheckedContinuation<Void, Error>? in
                s.done = true
                defer { s.continuation = nil }
                return s.continuation
            }
            if cancelled { c?.resume(throwing: CancellationError()) } else { c?.resume() }
        }
    }
}
