import ArgumentParser
import Foundation
import HWLabelCore
import HWLabelProbe
import HWLabelService

/// `hwlabel placement sync [--dry-run]`: mirror this host's descriptors into OpenStack Placement.
struct PlacementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement",
        abstract: "Publish assignable devices to OpenStack Placement.",
        subcommands: [PlacementSyncCommand.self]
    )
}

struct PlacementSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract:
            "Make Placement mirror this host: one child provider per device in its current mode (VFs under their PF, vGPU inventory on the card), with traits for labels and readiness.",
        discussion: """
            The host is a root provider found by name (Nova's compute node when there is one) or \
            created; each device is a child named <host>_<ADDRESS> with inventory CUSTOM_PCI_<VVVV>_<PPPP> \
            (or CUSTOM_HWLABEL_<LABEL> with --resource-class label) and traits CUSTOM_HWLABEL_<LABEL>, \
            CUSTOM_GPU_ARCH_<ARCH>, CUSTOM_PASSTHROUGH_READY, CUSTOM_HWLABEL_MANAGED. Only providers \
            carrying CUSTOM_HWLABEL_MANAGED are ever changed. The token is read from --token-file and \
            never printed. Exit codes: 0 in sync; 1 some writes failed (listed); 2 usage; 3 source \
            unreadable; 5 Placement unreachable or refused the reads.
            """
    )

    @OptionGroup var source: SourceOptions

    @Option(help: ArgumentHelp("Placement endpoint, e.g. http://placement:8778.", valueName: "URL"))
    var url: String

    @Option(
        name: .customLong("token-file"),
        help: ArgumentHelp("File holding the Keystone token (X-Auth-Token): one token, surrounding whitespace ignored.", valueName: "FILE"))
    var tokenFile: String

    @Option(help: "Placement microversion to send (1.39 is the newest this release speaks; ≥ 1.36 required).")
    var microversion: String = "1.39"

    @Option(
        name: .customLong("host-name"),
        help: ArgumentHelp("Root provider name (default: the host name; use Nova's compute node name).", valueName: "NAME"))
    var hostName: String?

    @Option(
        name: .customLong("resource-class"),
        help: "pci-id (CUSTOM_PCI_<VVVV>_<PPPP>) or label (CUSTOM_HWLABEL_<LABEL> for labelled devices).")
    var resourceClass: String = PlacementPolicy.ResourceClassSource.pciID.rawValue

    @Flag(
        name: .customLong("ready-after-binding-is-ready"),
        help: "Treat ready-after-binding devices as ready (libvirt managed='yes' binds them).")
    var readyAfterBindingIsReady = false

    @Flag(name: .customLong("dry-run"), help: "Read Placement and print the planned calls (method, path, body); write nothing.")
    var dryRun = false

    @Option(help: "Output format: table (readable) or json (the sync result).")
    var format: OutputFormat = .table

    func validate() throws {
        guard PlacementPolicy.ResourceClassSource(rawValue: resourceClass) != nil else {
            throw ValidationError("--resource-class must be pci-id or label")
        }
        let parts = microversion.split(separator: ".")
        guard parts.count == 2, parts[0] == "1", let minor = Int(parts[1]), (36...39).contains(minor) else {
            throw ValidationError("--microversion must be between 1.36 and 1.39 (POST returns 200 at ≥ 1.20; in: needs 1.39)")
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw ValidationError("--url must be http(s)://…") }
    }

    func run() async throws {
        // The agent's reader (TokenSource): one token, the same trimming and the same refusals.
        let token: Secret
        do { token = try TokenSource.file(tokenFile).read() } catch {
            Diagnostics.error("\(PlacementError.tokenFile(path: tokenFile, error.reason))")
            throw ExitCode(2)
        }
        let (snapshot, labels, policy) = try Self.inputs(source)
        let set = DescriptorBuilder().descriptors(snapshot: snapshot, labels: labels, policy: policy)
        let host = hostName ?? snapshot.host?.hostname ?? ProcessInfo.processInfo.hostName
        let publisher = PlacementPublisher(
            transport: PlacementHTTPTransport(baseURL: url, token: token.value, microversion: microversion),
            policy: PlacementPolicy(
                resourceClass: PlacementPolicy.ResourceClassSource(rawValue: resourceClass)!,
                readyAfterBindingIsReady: readyAfterBindingIsReady))
        let result: PlacementSyncResult
        do {
            result = try await publisher.sync(hostName: host, devices: set.descriptors, dryRun: dryRun)
        } catch {
            Diagnostics.error("\(error)")
            throw ExitCode(5)
        }
        switch format {
        case .json:
            print(try CommandSupport.json(result), terminator: "")
        case .table:
            print(Self.render(result))
        }
        if !result.errors.isEmpty { throw ExitCode(1) }
    }

    static func inputs(_ source: SourceOptions) throws -> (Snapshot, LabelSet, Policy) {
        let store = LabelStore(directory: source.configDir)
        let labels: LabelSet, policy: Policy
        do {
            labels = try store.loadLabels()
            policy = try store.loadPolicy()
        } catch {
            Diagnostics.error("\(error)")
            throw ExitCode(2)
        }
        return (try source.snapshot(), labels, policy)
    }

    static func render(_ r: PlacementSyncResult) -> String {
        var lines: [String] = []
        if r.dryRun {
            lines.append(
                "# dry run: \(r.plannedCalls.count) call(s) planned for \(r.rootName) (root \(r.rootUUID ?? "?")); nothing written")
            lines += r.plannedCalls
        } else {
            lines.append(
                "\(r.rootName): \(r.created.count) created, \(r.updated.count) updated, \(r.deleted.count) deleted, "
                    + "\(r.retained.count) kept reserved; \(r.writes) write(s), \(r.reads) read(s), \(r.conflictRetries) conflict retry(ies)"
            )
            for n in r.created { lines.append("  created  \(n)") }
            for n in r.updated { lines.append("  updated  \(n)") }
            for n in r.deleted { lines.append("  deleted  \(n)") }
        }
        for n in r.retained { lines.append("  kept     \(n)  (removed, still has allocations: inventory reserved)") }
        for w in r.warnings { lines.append("warning: \(w)") }
        for e in r.errors { lines.append("error: \(e)") }
        return lines.joined(separator: "\n")
    }
}
