import Foundation

/// The agent's time: what time it is (reports, status) and how it waits (debounce, resync,
/// settle, watchdog, retries). `AgentService` hands one value to everything it starts, so a test
/// that injects its own clock drives every timer of the agent.
///
/// `system` reads the wall clock and sleeps through `AgentSleep` (on hwlabel's executor under
/// `hwlabel agent`). A sleep ends early with `CancellationError` when its task is cancelled.
public struct AgentClock: Sendable {
    public var now: @Sendable () -> Date
    public var sleep: @Sendable (_ seconds: Double) async throws -> Void

    public init(now: @escaping @Sendable () -> Date, sleep: @escaping @Sendable (_ seconds: Double) async throws -> Void) {
        self.now = now
        self.sleep = sleep
    }

    public static let system = AgentClock(now: { Date() }, sleep: { try await AgentSleep.sleep(seconds: $0) })
}
