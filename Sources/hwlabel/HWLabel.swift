import ArgumentParser
import HWLabelProbe
import Dispatch

@main
struct HWLabel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hwlabel",
        abstract: "Assignable PCIe hardware for Linux KVM hosts: inventory, hardware labels, passthrough readiness.",
        discussion: """
            Exit codes (every subcommand): 0 success; 1 the answer is "no" (check: the request does not \
            fit; show: no such function); 2 usage or input error (bad arguments, corrupt label file, \
            bad request); 3 the hardware source could not be read at all (no sysfs root, unreadable \
            dump); 4 an output file could not be written; 5 (placement sync) Placement unreachable. \
            Each subcommand's --help lists its own.
            """,
        version: "0.1.0",
        subcommands: [
            InventoryCommand.self, ListCommand.self, ShowCommand.self, LabelCommand.self,
            CheckCommand.self, DiffCommand.self, AgentCommand.self, PlacementCommand.self, PassthroughCommand.self,
        ]
    )

    /// ArgumentParser exits 64 (EX_USAGE) on a usage error; hwlabel documents 2, as lspci and
    /// systemd's tools do.
    ///
    /// Synchronous: an async subcommand runs in a task while this thread waits for it. (An async
    /// `main` hands the main thread to libdispatch, which ends it with `pthread_exit`: the
    /// unwinder then pulls the binary's unwind tables into memory, which a long-running agent
    /// keeps.) The agent's executor is installed here, before any task exists.
    static func main() {
        // Most commands scan: libpci's ID database loads on a thread of its own while the
        // arguments are parsed (see PCINames), not on the scan's threads afterwards.
        let args = CommandLine.arguments.dropFirst()
        if !args.isEmpty, !args.contains(where: { ["-h", "--help", "--version", "help"].contains($0) }) {
            PCINames.preload()
        }
        do {
            var command = try parseAsRoot()
            if let async = command as? AsyncParsableCommand {
                if command is AgentCommand.Run { try AgentCommand.Run.installExecutor() }
                try runBlocking(async)
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileStandardError.write(fullMessage(for: error) + "\n")
                Self.exit(withError: ExitCode(2))
            }
            Self.exit(withError: error)
        }
    }
}

extension HWLabel {
    /// Runs an async command to completion on the global executor and rethrows what it threw.
    static func runBlocking(_ command: AsyncParsableCommand) throws {
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var command = command
        Task.detached {
            do { try await command.run() } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw error }
    }

    private final class Outcome: @unchecked Sendable {
        // Written by the task before `signal`, read after `wait`: the semaphore orders them.
        var error: Error?
    }
}
