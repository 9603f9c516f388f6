import ArgumentParser
import Foundation
import HWLabelAgent
import HWLabelProbe

/// `hwlabel check`: can this host take a VM with these devices now?
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check whether this host can satisfy a VM's device request now.",
        discussion: """
            The request comes from --request FILE (JSON: {"devices":[{"label":"Turing GPU","count":2}, \
            {"vendor":"10de","device":"1e30","subsystemVendor":"10de","subsystemDevice":"13d9"}], \
            "vgpu":[{"profile":"GRID T4-4Q"}], "nested":false}) or from flags. Nested virtualization \
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
        let req = try AgentCLI.inputErrors { () throws -> CheckRequest in
            let r = try buildRequest()
            try r.validate()
            return r
        }
        let (snapshot, _, policy, set) = try AgentCLI.descriptors(source)
        AgentCLI.printDiagnostics(set.errors)
        let result = CompatibilityChecker().check(req, descriptors: set, snapshot: snapshot, policy: policy)
        print(format == .json ? try AgentCLI.json(result) : Self.table(result), terminator: "")
        if !result.fits { throw ExitCode(1) }
    }

    func buildRequest() throws -> CheckRequest {
        if let request {
            guard label.isEmpty, device.isEmpty, vgpu.isEmpty, count.isEmpty else {
                throw LabelError.invalidRule("--request cannot be combined with --label/--device/--vgpu/--count")
            }
            let data: Data
            do {
                data = request == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: request))
            } catch { throw ConfigError(path: request, message: "cannot read request: \(error.localizedDescription)") }
            do {
                var r = try JSONDecoder().decode(CheckRequest.self, from: data)
                if nested { r.nested = true }
                return r
            } catch { throw ConfigError(path: request, message: "not a valid request: \(Self.describe(error))") }
        }
        guard count.count <= label.count else { throw LabelError.invalidRule("more --count than --label options") }
        var devices = label.enumerated().map { DeviceRequest(label: $0.element, count: $0.offset < count.count ? count[$0.offset] : 1) }
        for t in device { devices.append(try DeviceRequest(tuple: t)) }
        return CheckRequest(devices: devices, vgpu: vgpu.map { VGPURequest(profile: $0) }, nested: nested)
    }

    static func describe(_ e: Error) -> String {
        switch e as? DecodingError {
        case let .typeMismatch(_, c)?, let .valueNotFound(_, c)?, let .dataCorrupted(c)?:
            return c.debugDescription + (c.codingPath.isEmpty ? "" : " at " + c.codingPath.map(\.stringValue).joined(separator: "."))
        case let .keyNotFound(k, c)?:
            return "missing key '\(k.stringValue)'" + (c.codingPath.isEmpty ? "" : " at " + c.codingPath.map(\.stringValue).joined(separator: "."))
        default: return "\(e)"
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
