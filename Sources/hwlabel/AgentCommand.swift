import ArgumentParser
import CHWLabelExecutor
import Dispatch
import Foundation
import HWLabelProbe
import HWLabelService
import Logging
import ServiceLifecycle

/// `hwlabel agent`: the systemd service (see README.md, "hwlabel agent").
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Keep a placement controller, a report file and Kubernetes NFD current with this host's assignable PCI devices.",
        discussion: """
            Runs until SIGTERM (exit 0 after finishing writes in flight). SIGHUP reloads \
            <config-dir>/agent.conf. Under systemd (Type=notify) it sends READY=1, STATUS= and \
            WATCHDOG=1 on $NOTIFY_SOCKET.

            Exit codes: 0 stopped cleanly; 1 could not start (bad configuration, a token file \
            that holds no usable token, state directory not writable); 2 usage.
            """,
        subcommands: [Run.self, Status.self],
        defaultSubcommand: Run.self)

    struct Paths: ParsableArguments {
        @Option(help: "Directory holding agent.conf and label files.")
        var configDir = "/etc/hwlabel"
        @Option(help: "Directory for identity, generation, outbox and status.json.")
        var stateDir = "/var/lib/hwlabel"
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the agent (the default).")
        @OptionGroup var paths: Paths
        @Option(help: "Read a captured or synthetic sysfs tree instead of the live machine (disables uevents).")
        var sysfsRoot: String?
        @Option(help: "Uevent source: auto (udev when udevd runs, else kernel), udev, kernel or off. Default: auto, off with --sysfs-root.")
        var uevents: String?
        @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .info

        func validate() throws {
            if let u = uevents, !["auto", "udev", "kernel", "off"].contains(u) {
                throw ValidationError("--uevents must be auto, udev, kernel or off")
            }
            if let r = sysfsRoot, !FileManager.default.fileExists(atPath: r + "/bus/pci/devices") {
                throw ValidationError("--sysfs-root \(r): no bus/pci/devices below it")
            }
        }

        /// The agent runs its tasks on hwlabel's own executor: threads that sleep until a job or
        /// a timer is due. libdispatch's global queues, the default, keep a monitor timer that
        /// wakes the process every second forever once any task has run. Called before any
        /// task or thread exists. Built by a compiler the executor was not checked with, the
        /// agent keeps the default executor (`AgentExecutor`).
        static func installExecutor() throws {
            // SIGTERM, SIGINT and SIGHUP go to one thread of ours (AgentSignals); blocked here,
            // before any thread exists, so that every thread started later inherits the mask.
            AgentSignals.block()
            // One malloc arena for all of the agent's threads: with one per thread (glibc's
            // default) the idle agent kept 1.5 MB of freed memory that malloc_trim cannot return.
            _ = hwl_malloc_one_arena()
            guard AgentExecutor.checkedToolchain else { return }
            guard hwl_executor_install(Int32(max(2, min(ProcessInfo.processInfo.activeProcessorCount, 4)))) == 0 else {
                FileStandardError.write("hwlabel: error: cannot start the agent's executor threads\n")
                throw ExitCode(1)
            }
        }

        func run() async throws {
            let level = logLevel
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return RedactingLogHandler(h)
            }
            let logger = Logger(label: "hwlabel.agent")
            if hwl_executor_installed() == 0 {
                logger.notice(
                    "running on the Swift runtime's default executor: hwlabel's own is checked with Swift \(AgentExecutor.checkedRange) only; idle wake-ups are not 0"
                )
            }
            let options = AgentService.Options(configDirectory: paths.configDir, stateDirectory: paths.stateDir)
            // A configuration that cannot start the agent is exit 1 with file:line, before any
            // thread or socket exists (the service reads it again, and on every reload).
            let config: AgentConfig
            do { config = try AgentConfig.load(path: options.configPath) } catch {
                FileStandardError.write("hwlabel: error: \(Secret.redact("\(error)"))\n")
                throw ExitCode(1)
            }
            // A credential or token file that holds something other than a token is refused
            // here, by name, rather than sending reports without it.
            do { try AgentService.checkTokens(config, configDirectory: paths.configDir) } catch {
                FileStandardError.write("hwlabel: error: \(error.description)\n")
                throw ExitCode(1)
            }
            let mode = uevents ?? (sysfsRoot == nil ? "auto" : "off")
            var eventSource: AgentService.EventSource? = { try UeventMonitor.events() }
            if mode == "off" { eventSource = nil }
            if mode == "udev" { eventSource = { try UeventMonitor.events(source: .udev) } }
            if mode == "kernel" { eventSource = { try UeventMonitor.events(source: .kernel) } }
            let service = AgentService(
                options: options,
                source: DescriptorSources.probe(sysfsRoot: sysfsRoot, configDirectory: paths.configDir),
                events: eventSource,
                logger: logger)
            let group = ServiceGroup(services: [service], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
            AgentSignals.start(
                reload: { service.reload() },
                shutdown: { Task { await group.triggerGracefulShutdown() } })
            do {
                try await group.run()
            } catch {
                logger.critical("agent failed", metadata: ["error": "\(Secret.redact("\(error)"))"])
                throw ExitCode(1)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show whether the agent runs, the last scan, last delivery per sink, pending reports and recent errors.",
            discussion: """
                Reads <state-dir>/status.json and checks that the process it names still runs \
                (same pid, same start time). Exit codes, as `systemctl status`: 0 running and \
                every sink delivered; 1 running, something pending or failing; 2 usage; 3 not \
                running (no status yet, stopped, or its process is gone: crashed or killed), or \
                status.json unreadable; 5 running, but the configuration on disk failed to load at \
                the last reload (the agent runs the previous one).
                """)
        @OptionGroup var paths: Paths
        @Option(help: "table or json.")
        var format: String = "table"

        func validate() throws {
            guard ["table", "json"].contains(format) else { throw ValidationError("--format must be table or json") }
        }

        func run() throws {
            let store = StateStore(directory: paths.stateDir)
            let read: AgentStatus?
            do { read = try store.readStatus() } catch {
                FileStandardError.write("hwlabel: error: \(Secret.redact("\(error)"))\n")
                throw ExitCode(3)
            }
            guard var status = read?.redacted() else {
                FileStandardError.write("hwlabel: no status at \(store.statusPath): has the agent run?\n")
                throw ExitCode(AgentStatus.ExitCode.notRunning)
            }
            let liveness = status.checkLiveness()
            if format == "json" {
                // Re-encoded as the agent writes it, so a message saved by an older agent is
                // redacted too; `liveness` is what this command found.
                status.liveness = liveness
                print(String(decoding: try StateStore.encode(status), as: UTF8.self))
            } else {
                print(status.rendered(liveness: liveness), terminator: "")
            }
            let code = status.exitCode(liveness)
            if code != 0 { throw ExitCode(code) }
        }
    }
}

/// Whether this binary may install hwlabel's executor (Sources/CHWLabelExecutor). It mirrors
/// private layouts of the Swift runtime (the job header, the global-executor hook variables and
/// their calling convention, swift_job_run, swift_get_time: executor.c lists them), which were
/// checked against Swift 6.3 (6.3.1). A compiler outside that range may ship a runtime that
/// differs, so the agent then runs on the runtime's default executor: correct, but woken every
/// second by libdispatch's pool monitor. Widen the range after re-checking executor.c's list
/// against the new toolchain and running the idle wake-up test (ReporterProcessTests).
enum AgentExecutor {
    static let checkedRange = "6.3"
    #if compiler(>=6.3) && !compiler(>=6.4)
    static let checkedToolchain = true
    #else
    static let checkedToolchain = false
    #endif
}

/// Passes every log message, metadata value and error through `Secret.redact` before the
/// wrapped handler writes it: whatever a library's error prints, a token does not reach the
/// journal.
struct RedactingLogHandler: LogHandler {
    var inner: any LogHandler
    init(_ inner: any LogHandler) { self.inner = inner }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }
    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }
    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var e = event
        e.message = "\(Secret.redact(event.message.description))"
        var metadata = event.metadata?.mapValues(Self.redact)
        if let error = event.error {
            e.error = nil
            if metadata?["error"] == nil {
                metadata = (metadata ?? [:]).merging(["error": .string(Secret.redact("\(error)"))]) { a, _ in a }
            }
        }
        e.metadata = metadata
        inner.log(event: e)
    }

    static func redact(_ v: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch v {
        case .string(let s): .string(Secret.redact(s))
        case .stringConvertible(let c): .string(Secret.redact(c.description))
        case .dictionary(let d): .dictionary(d.mapValues(redact))
        case .array(let a): .array(a.map(redact))
        @unknown default: .string(Secret.redact("\(v)"))
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// SIGTERM and SIGINT (graceful shutdown) and SIGHUP (reload), taken by one thread of the agent
/// with sigwait(2). libdispatch signal sources, the usual way, run their handlers on
/// libdispatch worker threads, and each such thread starts with setpriority(2), which the
/// unit's `SystemCallFilter=~@resources` denies ("Failed to set thread priority for worker
/// thread … errno=1" in the journal at every start, reload and stop).
enum AgentSignals {
    static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    static var set: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in handled { sigaddset(&set, s) }
        return set
    }

    /// Blocks the signals in the calling thread (threads it starts inherit the mask), so they
    /// stay pending until `sigwait` takes them. Call before any other thread exists.
    static func block() {
        var s = set
        pthread_sigmask(SIG_BLOCK, &s, nil)
    }

    /// Starts the thread that waits for the signals: SIGHUP calls `reload`; the first SIGTERM or
    /// SIGINT calls `shutdown`, later ones are ignored (systemd's TimeoutStopSec= ends a stuck stop).
    static func start(reload: @escaping @Sendable () -> Void, shutdown: @escaping @Sendable () -> Void) {
        let thread = Thread {
            var s = set
            var stopping = false
            while true {
                var sig: Int32 = 0
                guard sigwait(&s, &sig) == 0 else { continue }
                if sig == SIGHUP {
                    reload()
                } else if !stopping {
                    stopping = true
                    shutdown()
                }
            }
        }
        thread.name = "hwlabel-signals"
        thread.start()
    }
}
