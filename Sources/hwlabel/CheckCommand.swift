import ArgumentParser
import Foundation
import HWLabelCore
import HWLabelProbe

/// `hwlabel check`: can this host take a VM with these devices now?
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check whether this host can satisfy a VM's device request now.",
        discussion: """
            The request comes from --request FILE (JSON: {"devices":[{"label":"Turing GPU","count":2}, \
            {"vendor":"10de","device":"1e30","subsystemVendor":"10de","subsystemDevice":"13d9"}], \
            "vgpu":[{"profile":"GRID T4-4Q"}], "nested":false}; at most 1 MiB, read strictly: an unknown key \
            or a value of the wrong type is an input error) or from flags. Nested virtualization \
            with any passthrough or vGPU device is refused unless policy.conf sets \
            allowNestedWithPassthrough = true. Exit codes: 0 fits, 1 does not fit, 2 usage or input \
            error, 3 hardware source unreadable.
            """)

    @OptionGroup var source: SourceOptions
    @Option(help: ArgumentHelp("JSON request file ('-' for stdin).", valueName: "FILE")) var request: String?
    @Option(help: "Devices by hardware label (repeatable).") var label: [String] = []
    @Option(help: "How many devices for each --label, in order (default 1).") var count: [Int] = []
    @Option(help: ArgumentHelp("A device by attribute tuple (repeatable).", valueName: "VVVV:DDDD[:SVVV:SDDD]")) var device: [String] = []
    @Option(help: ArgumentHelp("A vGPU profile by name or type id (repeatable).", valueName: "PROFILE")) var vgpu: [String] = []
    @Flag(help: "The VM wants nested hardware virtualization.") var nested = false
    @Option(help: "table or json.") var format: OutputFormat = .table

    func run() throws {
        let req = try CommandSupport.inputErrors { () throws -> CheckRequest in
            do {
                let r = try buildRequest()
                try r.validate()
                return r
            } catch var e as RequestError where e.code == .invalidRequest || e.code == .unreadableRequest {
                if e.file == nil { e.file = request }
                Diagnostics.error(e.description)
                throw ExitCode(2)
            }
        }
        let (snapshot, _, policy, set) = try CommandSupport.descriptors(source)
        CommandSupport.printDiagnostics(set.errors)
        let result = CompatibilityChecker().check(req, descriptors: set, snapshot: snapshot, policy: policy)
        print(format == .json ? try CommandSupport.json(result) : Self.table(result), terminator: "")
        if !result.fits { throw ExitCode(1) }
    }

    func buildRequest() throws -> CheckRequest {
        if let request {
            guard label.isEmpty, device.isEmpty, vgpu.isEmpty, count.isEmpty else {
                Diagnostics.error("--request cannot be combined with --label/--device/--vgpu/--count")
                throw ExitCode(2)
            }
            var r = try CheckRequest(json: try Self.readRequest(request))
            if nested { r.nested = true }
            return r
        }
        guard count.count <= label.count else { Diagnostics.error("more --count than --label options"); throw ExitCode(2) }
        var devices = label.enumerated().map { DeviceRequest(label: $0.element, count: $0.offset < count.count ? count[$0.offset] : 1) }
        for t in device { devices.append(try DeviceRequest(tuple: t)) }
        return CheckRequest(devices: devices, vgpu: vgpu.map { VGPURequest(profile: $0) }, nested: nested)
    }

    /// Reads a request file (`-`: stdin), at most `CheckRequest.maximumFileSize` bytes. Only a
    /// regular file: a directory or device is refused by `stat(2)` before anything opens it, and
    /// the open is non-blocking, so a FIFO (or one swapped in after the `stat`) cannot hang the check.
    static func readRequest(_ path: String) throws(RequestError) -> Data {
        let limit = CheckRequest.maximumFileSize
        func fail(_ message: String) -> RequestError { RequestError(message, kind: .unreadable, file: path) }
        func errnoText(_ e: Int32) -> String { ErrnoText.describe(e) }
        func tooLarge(_ size: String) -> RequestError {
            fail("too large: \(size) bytes (a request file is at most 1 MiB, \(limit) bytes)")
        }
        let fd: Int32
        if path == "-" {
            fd = 0
        } else {
            var st = stat()
            guard stat(path, &st) == 0 else { throw fail(errnoText(errno)) }
            guard st.st_mode & S_IFMT == S_IFREG else { throw fail("not a regular file (\(fileType(st.st_mode)))") }
            guard Int(st.st_size) <= limit else { throw tooLarge("\(st.st_size)") }
            fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { throw fail(errnoText(errno)) }
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
                close(fd)
                throw fail("not a regular file (\(fileType(st.st_mode)))")
            }
        }
        defer { if fd != 0 { close(fd) } }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count <= limit {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail(errnoText(errno))
            }
            if n == 0 { return Data(bytes) }
            bytes += buffer[0..<n]
        }
        throw tooLarge("more than \(limit)")
    }

    private static func fileType(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        default: "an unknown kind of file"
        }
    }

    static func table(_ r: CheckResult) -> String {
        var out = r.fits ? "FITS: this host can satisfy the request now\n" : "DOES NOT FIT\n"
        let nestedText = r.hostNestedVirtualization.map { $0 ? "on" : "off" } ?? "unknown"
        out += "host nested virtualization: \(nestedText)\(r.nestedRequested ? " (requested)" : "")\n"
        if let refusal = r.refusal {
            out += "\n\(refusal.message)\nResolutions:\n"
            for (i, s) in refusal.resolutions.enumerated() { out += "  \(i + 1). \(s)\n" }
            out += "(\(refusal.policyHint))\n"
        }
        out += "\nREQUEST\n"
        for p in r.parts {
            out += "  [\(p.satisfied ? "ok" : "NO")] \(p.request)"
            out += p.devices.isEmpty ? "\n" : ": " + p.devices.map(\.description).joined(separator: ", ") + "\n"
            for u in p.unmet { out += "       - \(u)\n" }
        }
        if !r.devices.isEmpty {
            out += "\nDEVICES THAT WOULD SERVE\n"
            for d in r.devices {
                out += "  \(d.address)  \(d.instance)  \(d.label.map { "\"\($0)\"" } ?? "-")  \(d.readiness.rawValue)"
                if let t = d.vgpuType { out += "  vgpu \(t)" }
                if !d.companions.isEmpty { out += "  with \(d.companions.map(\.description).joined(separator: ", "))" }
                out += "\n"
            }
        }
        if !r.bindingCommands.isEmpty {
            out += "\nTO BIND (or let libvirt managed mode do it)\n"
            for c in r.bindingCommands { out += "  \(c)\n" }
        }
        return out
    }
}
