import ArgumentParser
import HWLabelProbe
import HWLabelService

/// Where the hardware facts come from; shared by every command that reads a snapshot.
struct SourceOptions: ParsableArguments {
    @Option(
        name: .customLong("sysfs-root"),
        help: ArgumentHelp(
            "Read a captured or synthetic sysfs tree (what /sys would be) instead of this host.",
            valueName: "DIR"))
    var sysfsRoot: String?

    @Option(
        name: .customLong("proc-root"),
        help: ArgumentHelp(
            "With --sysfs-root: a captured /proc for host facts (else they are null).",
            valueName: "DIR"))
    var procRoot: String?

    @Option(
        name: .customLong("pci-dump"),
        help: ArgumentHelp("Read an `lspci -x/-xxx/-xxxx` dump; facts only sysfs has are null.", valueName: "FILE"))
    var pciDump: String?

    @Option(
        name: .customLong("config-dir"),
        help: ArgumentHelp("Labels and policy live here.", valueName: "DIR"))
    var configDir: String = "/etc/hwlabel"

    func validate() throws {
        if sysfsRoot != nil && pciDump != nil {
            throw ValidationError("--sysfs-root and --pci-dump are mutually exclusive")
        }
        if procRoot != nil && sysfsRoot == nil {
            throw ValidationError("--proc-root needs --sysfs-root")
        }
    }

    var source: ProbeSource {
        if let d = pciDump { return .dump(file: d) }
        if let r = sysfsRoot {
            return .sysfs(root: r, paths: procRoot.map { HostPaths(sys: r, proc: $0, dev: nil, etc: nil) })
        }
        return .live()
    }

    /// Reads the snapshot; a source that cannot be read at all exits 3 with the reason.
    func snapshot() throws -> Snapshot {
        do {
            return try Probe().snapshot(source)
        } catch {
            Diagnostics.error(error.description)
            throw ExitCode(3)
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

enum Diagnostics {
    static func error(_ message: String) {
        FileStandardError.write("hwlabel: error: \(message)\n")
    }

    static func warn(_ warnings: [ProbeWarning]) {
        for w in warnings { FileStandardError.write("hwlabel: warning: \(w)\n") }
    }
}

import Glibc

enum FileStandardError {
    static func write(_ s: String) {
        var bytes = Array(s.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// Writes command output to stdout or, with `-o FILE`, atomically to a file (exit 4 on failure).
enum Output {
    static func emit(_ bytes: [UInt8], to path: String?) throws {
        try emit(to: path) { put in bytes.withUnsafeBytes(put) }
    }

    /// Output handed over in pieces (a large inventory is never joined into one array).
    static func emit(to path: String?, _ produce: ((UnsafeRawBufferPointer) -> Void) -> Void) throws {
        do {
            if let path, path != "-" {
                try AtomicFile.write(to: path, produce)
            } else {
                try AtomicFile.stream(1, path: "standard output", produce)
            }
        } catch {
            Diagnostics.error(error.description)
            throw ExitCode(4)
        }
    }
}
