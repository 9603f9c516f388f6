#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HWLabelCore
import HWLabelProbe
import Logging
import ServiceLifecycle

/// `hwlabel agent`: keeps every configured sink current with this host's assignable hardware.
///
/// - A full report at start; then a rescan `debounce` after a burst of uevents (pci add, remove,
///   bind, unbind, change; mdev and drm), a full resync every `resync-interval`, and a reload of
///   the configuration on `reload()` (SIGHUP) or when a file in the config directory changed
///   (inotify). Every trigger is a small function (`onUevent`, `onReload`, …) called by the one
///   loop in `run`; every timer sleeps on the injected `AgentClock` inside that loop's task group.
/// - Each sink has its own worker holding only the newest report, so a slow controller never
///   delays the file or NFD sinks; the worker retries failed deliveries (`RetryPolicy`).
/// - Graceful shutdown (SIGTERM through a `ServiceGroup`): file writes in flight finish and the
///   newest report is written; controller requests are cancelled, their report stays in the
///   outbox for the next start.
public final class AgentService: Service, Sendable {
    public struct Options: Sendable {
        public var configDirectory: String
        public var stateDirectory: String
        public init(configDirectory: String = "/etc/hwlabel", stateDirectory: String = "/var/lib/hwlabel") {
            self.configDirectory = configDirectory
            self.stateDirectory = stateDirectory
        }
        public var configPath: String { configDirectory + "/agent.conf" }
    }

    /// Builds the sinks for a configuration (the default reads `AgentConfig`; tests inject fakes).
    public typealias SinkFactory = @Sendable (AgentConfig, StateStore, Logger) throws -> [any ReportSink]
    /// Starts the uevent stream (default: `UeventMonitor.events()`); nil disables hotplug.
    public typealias EventSource = @Sendable () throws -> AsyncStream<Uevent>

    enum Trigger: Sendable {
        case start, uevent(Uevent), debounced, resync(Int), reload, settle(Int), shutdown
        var name: String {
            switch self {
            case .start: "start"
            case .settle: "settle"
            case .uevent, .debounced: "uevent"
            case .resync: "resync"
            case .reload: "reload"
            case .shutdown: "shutdown"
            }
        }
    }

    public let options: Options
    let source: DescriptorSource
    let events: EventSource?
    let sinkFactory: SinkFactory
    let logger: Logger
    let notify: SDNotify
    let store: StateStore
    let clock: AgentClock
    private let triggers: AsyncStream<Trigger>
    private let triggerContinuation: AsyncStream<Trigger>.Continuation

    /// `sinkFactory` nil: `defaultSinks` with the configuration directory of `options`.
    public init(
        options: Options, source: @escaping DescriptorSource, events: EventSource? = { try UeventMonitor.events() },
        sinkFactory: SinkFactory? = nil, logger: Logger,
        notify: SDNotify = SDNotify(), clock: AgentClock = .system
    ) {
        self.options = options
        self.source = source
        self.events = events
        self.sinkFactory =
            sinkFactory ?? { [configDirectory = options.configDirectory] config, store, logger in
                try AgentService.defaultSinks(config, store, logger, configDirectory: configDirectory)
            }
        self.logger = logger
        self.notify = notify
        self.clock = clock
        self.store = StateStore(directory: options.stateDirectory)
        let (stream, continuation) = AsyncStream<Trigger>.makeStream(bufferingPolicy: .bufferingNewest(256))
        triggers = stream
        triggerContinuation = continuation
    }

    /// Re-reads the configuration and rescans (SIGHUP).
    public func reload() { triggerContinuation.yield(.reload) }

    /// Controller, file, NFD and Placement sinks from `agent.conf`; the file sink defaults to
    /// `<state-dir>/report.json`. Tokens: see `controllerToken` and `placementToken` (read before
    /// every request; a malformed one refuses the configuration).
    public static func defaultSinks(
        _ config: AgentConfig, _ store: StateStore, _ logger: Logger,
        configDirectory: String = "/etc/hwlabel",
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> [any ReportSink] {
        var sinks: [any ReportSink] = [FileSink(path: config.filePath ?? store.directory + "/report.json")]
        if let n = config.nfd { sinks.append(NFDSink(directory: n.directory, expiry: n.expiry)) }
        if let c = config.controller {
            let token = try controllerToken(c, configDirectory: configDirectory, environment: environment)
            sinks.append(
                try ControllerSink(
                    configuration: .init(
                        url: c.url, token: token.source, tokenOptional: token.optional, caFile: c.caFile,
                        timeout: c.timeout, retry: RetryPolicy(maxAttempts: c.maxAttempts)),
                    outboxDirectory: store.outboxDirectory, logger: logger))
        }
        if let p = config.placement {
            let token = try placementToken(p, configDirectory: configDirectory, environment: environment)
            let publisher = PlacementPublisher(
                transport: PlacementHTTPTransport(baseURL: p.url, tokenSource: token, microversion: p.microversion),
                policy: p.policy, logger: logger)
            sinks.append(PlacementSink(publisher: publisher, hostName: p.hostName))
        }
        return sinks
    }

    /// What the trigger loop keeps between triggers.
    private struct Loop {
        var config: AgentConfig
        var workers: [SinkWorker]
        let status: LockedBox<AgentStatus>
        let epoch: String
        /// The last report's summary: what the next scan needs of it (the report itself is
        /// released once every sink has it).
        var previous: ReportSummary?
        var debouncePending = false
        var settleToken = 0
        var resyncToken = 0
        var ready = false
    }

    public func run() async throws {
        var loop = try begin()
        try await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                startSources(in: &group, status: loop.status)
                triggerContinuation.yield(.start)
                for await trigger in triggers {
                    if case .shutdown = trigger { break }
                    handle(trigger, &loop, &group)
                }
                notify.send("STOPPING=1\nSTATUS=stopping: finishing writes in flight")
                // Timers end here; workers of a replaced configuration finish before the group does.
                group.cancelAll()
            }
        } onGracefulShutdown: { [triggerContinuation] in
            triggerContinuation.yield(.shutdown)
            triggerContinuation.finish()
        }
        await end(loop)
    }

    /// Ends the trigger stream, as a graceful shutdown does (for embedding without a ServiceGroup).
    public func stop() {
        triggerContinuation.yield(.shutdown)
        triggerContinuation.finish()
    }

    // MARK: - Start and stop

    /// Loads the configuration, starts the sink workers and marks status.json as this process.
    private func begin() throws -> Loop {
        try AtomicFile.makeDirectory(options.stateDirectory)
        let now = clock.now()
        let epoch = try store.agentEpoch(now: now)
        let status = LockedBox(store.loadStatus() ?? AgentStatus(pid: getpid(), agentEpoch: epoch, updatedAt: rfc3339(now)))
        let config = try AgentConfig.load(path: options.configPath)
        let workers = try startWorkers(config: config, status: status)
        // Started: from here on status.json names this process (until a clean stop says
        // `stopped`), so `agent status` can tell it from a crashed or stopped one.
        let me = AgentProcess().current()
        status.withLock {
            $0.pid = me.pid
            $0.processStartTicks = me.startTicks
            $0.agentEpoch = epoch
            $0.state = .running
            $0.startedAt = rfc3339(clock.now())
            $0.stoppedAt = nil
            $0.configError = nil
            $0.updatedAt = rfc3339(clock.now())
        }
        saveStatus(status)
        return Loop(
            config: config, workers: workers, status: status, epoch: epoch,
            previous: store.lastReport().map { ReportSummary($0) })
    }

    /// File and NFD workers finish their newest report; controller workers are cancelled (their
    /// report is in the outbox). Then status.json says `stopped`.
    private func end(_ loop: Loop) async {
        for w in loop.workers { await w.stop() }
        loop.status.withLock {
            $0.updatedAt = rfc3339(clock.now())
            $0.state = .stopped
            $0.stoppedAt = $0.updatedAt
        }
        saveStatus(loop.status)
        logger.info("agent stopped")
    }

    /// The trigger sources that run beside the loop: uevents, the configuration directory's
    /// inotify watch (reload), and the systemd watchdog.
    private func startSources(in group: inout DiscardingTaskGroup, status: LockedBox<AgentStatus>) {
        if let events {
            do {
                let stream = try events()
                group.addTask { [triggerContinuation] in
                    for await e in stream { triggerContinuation.yield(.uevent(e)) }
                }
            } catch {
                logger.error("uevent monitor unavailable; relying on the resync timer", metadata: ["error": "\(error)"])
                record(status, error: "uevent monitor: \(error)", sink: nil)
            }
        }
        do {
            let changes = try ConfigWatcher.changes(directory: options.configDirectory)
            group.addTask { [triggerContinuation, logger] in
                for await name in changes {
                    logger.info("configuration changed", metadata: ["file": "\(name)"])
                    triggerContinuation.yield(.reload)
                }
            }
        } catch {
            logger.warning(
                "not watching the configuration directory; agent.conf changes apply on SIGHUP",
                metadata: ["error": "\(error)"])
        }
        if let interval = notify.watchdogInterval {
            group.addTask { [notify, clock] in
                while !Task.isCancelled {
                    notify.send("WATCHDOG=1")
                    try? await clock.sleep(interval / 2)
                }
            }
        }
    }

    // MARK: - Triggers

    private func handle(_ trigger: Trigger, _ loop: inout Loop, _ group: inout DiscardingTaskGroup) {
        switch trigger {
        case .start: scanAndDeliver(trigger, full: true, &loop, &group)
        case .uevent(let e): onUevent(e, &loop, &group)
        case .debounced: onDebounced(&loop, &group)
        case .resync(let token): onResync(token, &loop, &group)
        case .reload: onReload(&loop, &group)
        case .settle(let token): onSettle(token, loop)
        case .shutdown: break
        }
    }

    /// The first uevent of a burst starts the debounce; the rest of the burst joins it.
    private func onUevent(_ e: Uevent, _ loop: inout Loop, _ group: inout DiscardingTaskGroup) {
        logger.debug("uevent", metadata: ["action": "\(e.action)", "subsystem": "\(e.subsystem)", "device": "\(e.sysname)"])
        guard !loop.debouncePending else { return }
        loop.debouncePending = true
        group.addTask(operation: delayed(.debounced, after: loop.config.debounce))
    }

    /// The burst is over: rescan, and send only if something changed.
    private func onDebounced(_ loop: inout Loop, _ group: inout DiscardingTaskGroup) {
        loop.debouncePending = false
        scanAndDeliver(.debounced, full: false, &loop, &group)
    }

    /// The periodic full rescan (only the newest timer counts: every full scan restarts it).
    private func onResync(_ token: Int, _ loop: inout Loop, _ group: inout DiscardingTaskGroup) {
        guard token == loop.resyncToken else { return }
        scanAndDeliver(.resync(token), full: true, &loop, &group)
    }

    /// SIGHUP or a changed file in the configuration directory: reload, then a full rescan.
    private func onReload(_ loop: inout Loop, _ group: inout DiscardingTaskGroup) {
        if let c = reloadConfig(&loop, &group) { loop.config = c }
        scanAndDeliver(.reload, full: true, &loop, &group)
    }

    /// A scan allocates transiently (strings for every sysfs value, the sinks' JSON); once the
    /// sinks have written it, hand the freed heap back so the idle agent does not keep its peak.
    /// Only the last scan's settle trims: after a burst, one for every scan would fire while the
    /// sinks still hold the newest report's JSON, and none after it.
    private func onSettle(_ token: Int, _ loop: Loop) {
        if token == loop.settleToken { _ = hwlabelMallocTrim(0) }
    }

    /// Scans, persists a changed report, hands it to the workers (unchanged content only on a
    /// full cycle, which re-asserts it) and re-arms the timers.
    private func scanAndDeliver(_ trigger: Trigger, full: Bool, _ loop: inout Loop, _ group: inout DiscardingTaskGroup) {
        if let (report, summary, canonical) = scan(trigger: trigger, previous: loop.previous, epoch: loop.epoch, status: loop.status) {
            let changed = report.generation != loop.previous?.generation || report.digest != loop.previous?.digest
            if changed || loop.previous == nil {
                do { try store.save(report, canonical: canonical) } catch {
                    logger.error("cannot persist state", metadata: ["error": "\(error)"])
                    record(loop.status, error: "\(error)", sink: nil)
                }
            }
            loop.previous = summary
            if changed || full {
                for w in loop.workers { w.submit(report, canonical: canonical) }
            }
        }
        if full {
            loop.resyncToken += 1
            group.addTask(operation: delayed(.resync(loop.resyncToken), after: loop.config.resyncInterval))
        }
        if !loop.ready {
            loop.ready = true
            notify.send("READY=1\nSTATUS=\(statusLine(loop.status))")
        } else {
            notify.send("STATUS=\(statusLine(loop.status))")
        }
        // Trim once the sinks are done with this report (a second on: the file and NFD writes
        // take milliseconds), not now, while they still hold its JSON.
        loop.settleToken += 1
        group.addTask(operation: delayed(.settle(loop.settleToken), after: 1))
    }

    /// A task for the trigger group: sleeps `seconds` on the clock, then yields `trigger`
    /// (nothing once the group is cancelled at shutdown).
    private func delayed(_ trigger: Trigger, after seconds: Double) -> @Sendable () async -> Void {
        { [triggerContinuation, clock] in
            do { try await clock.sleep(seconds) } catch { return }
            triggerContinuation.yield(trigger)
        }
    }

    // MARK: - Scanning

    private func scan(
        trigger: Trigger, previous: ReportSummary?, epoch: String, status: LockedBox<AgentStatus>
    ) -> (Report, ReportSummary, [UInt8])? {
        let started = clock.now()
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            let result = try source()
            let (report, summary, canonical) = ReportBuilder.next(summary: previous, epoch: epoch, scan: result, now: clock.now())
            let ms = Int((DispatchTime.now().uptimeNanoseconds - t0) / 1_000_000)
            logger.info(
                "scan",
                metadata: [
                    "trigger": "\(trigger.name)", "descriptors": "\(report.descriptors.count)",
                    "generation": "\(report.generation)", "tombstones": "\(report.tombstones.count)",
                    "duration.ms": "\(ms)",
                ])
            status.withLock {
                $0.generation = report.generation
                $0.lastScan = .init(
                    at: rfc3339(started), trigger: trigger.name, durationMs: ms,
                    descriptors: report.descriptors.count, generation: report.generation, error: nil)
            }
            saveStatus(status)
            return (report, summary, canonical)
        } catch {
            logger.error("scan failed", metadata: ["error": "\(error)"])
            status.withLock {
                $0.lastScan = .init(
                    at: rfc3339(started), trigger: trigger.name, durationMs: 0, descriptors: 0,
                    generation: $0.generation ?? 0, error: "\(error)")
            }
            record(status, error: "scan: \(error)", sink: nil)
            return nil
        }
    }

    // MARK: - Sinks

    private func startWorkers(config: AgentConfig, status: LockedBox<AgentStatus>) throws -> [SinkWorker] {
        let sinks = try sinkFactory(config, store, logger)
        return sinks.map { sink in
            SinkWorker(sink: sink, logger: logger, clock: clock) { [weak self] outcome in
                self?.apply(outcome, sink: sink, status: status)
            }
        }
    }

    /// The configuration on disk, with new workers when it changed (the old ones stop inside the
    /// trigger group, so shutdown waits for them); nil when it does not load.
    private func reloadConfig(_ loop: inout Loop, _ group: inout DiscardingTaskGroup) -> AgentConfig? {
        let status = loop.status
        do {
            let config = try AgentConfig.load(path: options.configPath)
            if config != loop.config {
                let old = loop.workers
                loop.workers = try startWorkers(config: config, status: status)
                group.addTask { for w in old { await w.stop() } }
            }
            logger.info("configuration reloaded", metadata: ["path": "\(options.configPath)", "changed": "\(config != loop.config)"])
            if status.withLock({ $0.configError != nil }) {
                status.withLock { $0.configError = nil }
                saveStatus(status)
            }
            return config
        } catch {
            logger.error("configuration not reloaded; keeping the previous one", metadata: ["error": "\(error)"])
            let now = rfc3339(clock.now())
            status.withLock { $0.configError = .init(at: now, sink: nil, message: Secret.redact("\(error)")) }
            record(status, error: "config: \(error)", sink: nil)
            return nil
        }
    }

    private func apply(_ outcome: SinkWorker.Outcome, sink: any ReportSink, status: LockedBox<AgentStatus>) {
        let now = rfc3339(clock.now())
        status.withLock { s in
            var e = s.sinks[sink.name] ?? .init()
            switch outcome {
            case .delivered(let g):
                e.lastSuccessAt = now
                e.lastSuccessGeneration = g
                e.pendingGeneration = nil
            case .failed(let g, let message):
                e.lastErrorAt = now
                e.lastError = message
                e.pendingGeneration = g
                s.record(error: message, sink: sink.name, at: now)
            }
            s.sinks[sink.name] = e
            s.updatedAt = now
        }
        saveStatus(status)
    }

    private func record(_ status: LockedBox<AgentStatus>, error: String, sink: String?) {
        let now = rfc3339(clock.now())
        status.withLock { $0.record(error: error, sink: sink, at: now) }
        saveStatus(status)
    }

    private func saveStatus(_ status: LockedBox<AgentStatus>) {
        status.withLock { s in
            do { try store.save(s) } catch { logger.warning("cannot write status", metadata: ["error": "\(error)"]) }
        }
    }

    private func statusLine(_ status: LockedBox<AgentStatus>) -> String {
        status.withLock { s in
            let failing = s.sinks.filter { $0.value.pendingGeneration != nil }.map(\.key).sorted()
            return "generation \(s.generation ?? 0), \(s.lastScan?.descriptors ?? 0) devices"
                + (failing.isEmpty ? "" : "; undelivered: " + failing.joined(separator: ","))
        }
    }
}

/// glibc's `malloc_trim` (not exported by the Glibc module: `<malloc.h>` is not in it).
@_silgen_name("malloc_trim")
private func hwlabelMallocTrim(_ pad: Int) -> Int32
