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
///   (checked on the resync timer: no polling in between).
/// - Each sink has its own worker holding only the newest report, so a slow controller never
///   delays the file or NFD sinks; failed deliveries are retried with backoff (5 s … 5 min).
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
    let clock: @Sendable () -> Date
    private let triggers: AsyncStream<Trigger>
    private let triggerContinuation: AsyncStream<Trigger>.Continuation

    /// `sinkFactory` nil: `defaultSinks` with the configuration directory of `options`.
    public init(options: Options, source: @escaping DescriptorSource, events: EventSource? = { try UeventMonitor.events() },
                sinkFactory: SinkFactory? = nil, logger: Logger,
                notify: SDNotify = SDNotify(), clock: @escaping @Sendable () -> Date = { Date() }) {
        self.options = options
        self.source = source
        self.events = events
        self.sinkFactory = sinkFactory ?? { [configDirectory = options.configDirectory] config, store, logger in
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
    public static func defaultSinks(_ config: AgentConfig, _ store: StateStore, _ logger: Logger,
                                    configDirectory: String = "/etc/hwlabel",
                                    environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [any ReportSink] {
        var sinks: [any ReportSink] = [FileSink(path: config.filePath ?? store.directory + "/report.json")]
        if let n = config.nfd { sinks.append(NFDSink(directory: n.directory, expiry: n.expiry)) }
        if let c = config.controller {
            let token = try controllerToken(c, configDirectory: configDirectory, environment: environment)
            sinks.append(try ControllerSink(
                configuration: .init(url: c.url, token: token.source, tokenOptional: token.optional, caFile: c.caFile,
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

    public func run() async throws {
        try AtomicFile.makeDirectory(options.stateDirectory)
        let epoch = try store.agentEpoch(now: clock())
        let status = LockedBox(store.loadStatus() ?? AgentStatus(pid: getpid(), agentEpoch: epoch, updatedAt: rfc3339(clock())))
        var config = try AgentConfig.load(path: options.configPath)
        var configStamp = configDirectoryStamp()
        var workers = try startWorkers(config: config, status: status)
        // Started: from here on status.json names this process (until a clean stop says
        // `stopped`), so `agent status` can tell it from a crashed or stopped one.
        let me = AgentProcess().current()
        status.withLock {
            $0.pid = me.pid
            $0.processStartTicks = me.startTicks
            $0.agentEpoch = epoch
            $0.state = .running
            $0.startedAt = rfc3339(clock())
            $0.stoppedAt = nil
            $0.configError = nil
            $0.updatedAt = rfc3339(clock())
        }
        saveStatus(status)
        var previous = store.lastReport()
        let latest = LockedBox<Report?>(nil)
        var debouncePending = false
        var settleToken = 0
        var resyncToken = 0
        var ready = false

        try await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                if let events {
                    do {
                        let stream = try events()
                        group.addTask { [triggerContinuation] in
                            for await e in stream { triggerContinuation.yield(.uevent(e)) }
                        }
                    } catch {
                        logger.error("uevent monitor unavailable; relying on the resync timer", metadata: ["error": "\(error)"])
                        self.record(status, error: "uevent monitor: \(error)", sink: nil)
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
                    logger.warning("not watching the configuration directory; changes apply on SIGHUP or the next resync",
                                   metadata: ["error": "\(error)"])
                }
                if let interval = notify.watchdogInterval {
                    group.addTask { [notify] in
                        while !Task.isCancelled {
                            notify.send("WATCHDOG=1")
                            try? await AgentSleep.sleep(seconds: interval / 2)
                        }
                    }
                }
                triggerContinuation.yield(.start)
                for await trigger in triggers {
                    var full = false
                    switch trigger {
                    case .shutdown:
                        break
                    case .uevent(let e):
                        logger.debug("uevent", metadata: ["action": "\(e.action)", "subsystem": "\(e.subsystem)", "device": "\(e.sysname)"])
                        if !debouncePending {
                            debouncePending = true
                            group.addTask(operation: delayed(.debounced, after: config.debounce))
                        }
                        continue
                    case .debounced:
                        debouncePending = false
                    case .settle(let token):
                        // A scan allocates transiently (strings for every sysfs value, the
                        // sinks' JSON); once the sinks have written it, hand the freed heap back
                        // so the idle agent does not keep its peak. Only the last scan's
                        // settle trims: after a burst, one for every scan would fire while the
                        // sinks still hold the newest report's JSON, and none after it.
                        if token == settleToken { _ = hwlabelMallocTrim(0) }
                        continue
                    case .resync(let token):
                        guard token == resyncToken else { continue }
                        full = true
                        let stamp = configDirectoryStamp()
                        if stamp != configStamp {
                            configStamp = stamp
                            if let c = reloadConfig(into: &workers, current: config, status: status) { config = c }
                        }
                    case .reload:
                        full = true
                        configStamp = configDirectoryStamp()
                        if let c = reloadConfig(into: &workers, current: config, status: status) { config = c }
                    case .start:
                        full = true
                    }
                    if case .shutdown = trigger { break }

                    if let report = scan(trigger: trigger, previous: previous, epoch: epoch, status: status) {
                        let changed = report.generation != previous?.generation || report.digest != previous?.digest
                        if changed || previous == nil {
                            do { try store.save(report) } catch {
                                logger.error("cannot persist state", metadata: ["error": "\(error)"])
                                record(status, error: "\(error)", sink: nil)
                            }
                        }
                        previous = report
                        latest.withLock { $0 = report }
                        // Unchanged content after a uevent is not re-sent; full cycles re-assert it.
                        if changed || full {
                            for w in workers { w.submit(report) }
                        }
                    }
                    if full {
                        resyncToken += 1
                        group.addTask(operation: delayed(.resync(resyncToken), after: config.resyncInterval))
                    }
                    if !ready {
                        ready = true
                        notify.send("READY=1\nSTATUS=\(statusLine(status))")
                    } else {
                        notify.send("STATUS=\(statusLine(status))")
                    }
                    // Trim once the sinks are done with this report (a second on: the file and
                    // NFD writes take milliseconds), not now, while they still hold its JSON.
                    settleToken += 1
                    group.addTask(operation: delayed(.settle(settleToken), after: 1))
                }
                notify.send("STOPPING=1\nSTATUS=stopping: finishing writes in flight")
                group.cancelAll()
            }
        } onGracefulShutdown: { [triggerContinuation] in
            triggerContinuation.yield(.shutdown)
            triggerContinuation.finish()
        }
        // File and NFD workers finish their newest report; controller workers are cancelled
        // (their report is in the outbox).
        for w in workers { await w.stop() }
        status.withLock {
            $0.updatedAt = rfc3339(clock())
            $0.state = .stopped
            $0.stoppedAt = $0.updatedAt
        }
        saveStatus(status)
        logger.info("agent stopped")
    }

    /// A task for the trigger group: sleeps `seconds`, then yields `trigger` (nothing once the
    /// group is cancelled at shutdown).
    private func delayed(_ trigger: Trigger, after seconds: Double) -> @Sendable () async -> Void {
        { [triggerContinuation] in
            do { try await AgentSleep.sleep(seconds: seconds) } catch { return }
            triggerContinuation.yield(trigger)
        }
    }

    /// Ends the trigger stream, as a graceful shutdown does (for embedding without a ServiceGroup).
    public func stop() {
        triggerContinuation.yield(.shutdown)
        triggerContinuation.finish()
    }

    // MARK: - Scanning

    private func scan(trigger: Trigger, previous: Report?, epoch: String, status: LockedBox<AgentStatus>) -> Report? {
        let started = clock()
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            let result = try source()
            let report = ReportBuilder.next(previous: previous, epoch: epoch, scan: result, now: clock())
            let ms = Int((DispatchTime.now().uptimeNanoseconds - t0) / 1_000_000)
            logger.info("scan", metadata: ["trigger": "\(trigger.name)", "descriptors": "\(report.descriptors.count)",
                                           "generation": "\(report.generation)", "tombstones": "\(report.tombstones.count)",
                                           "duration.ms": "\(ms)"])
            status.withLock {
                $0.generation = report.generation
                $0.lastScan = .init(at: rfc3339(started), trigger: trigger.name, durationMs: ms,
                                    descriptors: report.descriptors.count, generation: report.generation, error: nil)
            }
            saveStatus(status)
            return report
        } catch {
            logger.error("scan failed", metadata: ["error": "\(error)"])
            status.withLock {
                $0.lastScan = .init(at: rfc3339(started), trigger: trigger.name, durationMs: 0, descriptors: 0,
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

    private func reloadConfig(into workers: inout [SinkWorker], current: AgentConfig, status: LockedBox<AgentStatus>) -> AgentConfig? {
        do {
            let config = try AgentConfig.load(path: options.configPath)
            if config != current {
                let new = try startWorkers(config: config, status: status)
                let old = workers
                workers = new
                Task { for w in old { await w.stop() } }
            }
            logger.info("configuration reloaded", metadata: ["path": "\(options.configPath)", "changed": "\(config != current)"])
            if status.withLock({ $0.configError != nil }) {
                status.withLock { $0.configError = nil }
                saveStatus(status)
            }
            return config
        } catch {
            logger.error("configuration not reloaded; keeping the previous one", metadata: ["error": "\(error)"])
            let now = rfc3339(clock())
            status.withLock { $0.configError = .init(at: now, sink: nil, message: Secret.redact("\(error)")) }
            record(status, error: "config: \(error)", sink: nil)
            return nil
        }
    }

    private func apply(_ outcome: SinkWorker.Outcome, sink: any ReportSink, status: LockedBox<AgentStatus>) {
        let now = rfc3339(clock())
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
        let now = rfc3339(clock())
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

    /// Modification times of the config directory's files: a change triggers a reload.
    private func configDirectoryStamp() -> [String: Double] {
        let fm = FileManager.default
        var out: [String: Double] = [:]
        for name in (try? fm.contentsOfDirectory(atPath: options.configDirectory)) ?? [] {
            let p = options.configDirectory + "/" + name
            var st = stat()
            if stat(p, &st) == 0 {
                out[name] = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
            }
        }
        return out
    }
}

/// glibc's `malloc_trim` (not exported by the Glibc module: `<malloc.h>` is not in it).
@_silgen_name("malloc_trim")
private func hwlabelMallocTrim(_ pad: Int) -> Int32
