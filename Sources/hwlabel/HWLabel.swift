import ArgumentParser

@main
struct HWLabel: AsyncParsableCommand {
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
        subcommands: [InventoryCommand.self, ListCommand.self, ShowCommand.self, LabelCommand.self,
                      CheckCommand.self, AgentCommand.self, PlacementCommand.self]
    )

    /// ArgumentParser exits 64 (EX_USAGE) on a usage error; hwlabel documents 2, as lspci and
    /// systemd's tools do.
    ///
    /// On the main actor, so nothing has run on Swift concurrency's global executor before the
    /// agent replaces it (`AgentCommand.Run.installExecutor`).
    @MainActor static func main() async {
        do {
            var command = try parseAsRoot()
            if command is AgentCommand.Run { try AgentCommand.Run.installExecutor() }
            if var async = command as? AsyncParsableCommand {
                try await async.run()
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
