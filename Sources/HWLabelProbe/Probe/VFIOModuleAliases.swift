/// The `vfio_pci:` aliases of the kernel's `modules.alias`: which VFIO driver the installed
/// modules offer for a device.
///
/// depmod writes one line per match entry of every module's PCI table. Entries a VFIO variant
/// driver declares with `PCI_DRIVER_OVERRIDE_DEVICE_VFIO` carry the `vfio_pci:` prefix instead
/// of `pci:`, so udev and the kernel never autoload them; vfio-pci itself declares the catch-all:
///
///     alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci
///     alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci
///
/// A device's VFIO modalias is its `modalias` with the `vfio_` prefix; of the patterns that
/// match it, the one with the fewest wildcards names the driver to use (the selection the
/// kernel's `vfio_pci` documentation gives userspace).
public struct VFIOModuleAliases: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        /// The glob after `alias `, `vfio_pci:` included.
        public var pattern: String
        /// The module, as `modprobe` names it (`mlx5_vfio_pci`, `vfio_pci`).
        public var module: String
        public init(pattern: String, module: String) {
            self.pattern = pattern
            self.module = module
        }
    }

    public var entries: [Entry]
    /// The file the entries were read from; nil when none was read.
    public var path: String?

    public init(entries: [Entry], path: String? = nil) {
        self.entries = entries
        self.path = path
    }

    /// No file read: every device gets vfio-pci.
    public static let none = VFIOModuleAliases(entries: [])

    /// A limit on `modules.alias`: 32 MiB (a distribution kernel's is about 1.5 MB).
    public static let limit = 32 << 20

    /// The module a device should be bound with: the most specific `vfio_pci:` match (fewest
    /// `*`, then fewest `?`, then the longer pattern, then the module name, so the choice does
    /// not depend on line order); `vfio_pci` when nothing matches.
    public func module(for f: PCIFunction) -> String {
        module(forModalias: Self.modalias(f))
    }

    public func module(forModalias modalias: String) -> String {
        var best: (stars: Int, marks: Int, length: Int, module: String)?
        for e in entries where Self.glob(e.pattern, matches: modalias) {
            let stars = e.pattern.utf8.count { $0 == 0x2a }
            let marks = e.pattern.utf8.count { $0 == 0x3f }
            let key = (stars: stars, marks: marks, length: -e.pattern.utf8.count, module: e.module)
            if let b = best, (b.stars, b.marks, -b.length, b.module) <= (key.stars, key.marks, -key.length, key.module) { continue }
            best = (stars, marks, e.pattern.utf8.count, e.module)
        }
        return best?.module ?? "vfio_pci"
    }

    /// The driver name a module registers, as it appears under `bus/pci/drivers`: vfio-pci
    /// registers `vfio-pci`; the variant drivers register their module name.
    public static func driverName(module: String) -> String {
        module == "vfio_pci" ? "vfio-pci" : module
    }

    /// `vfio_pci:v000010DEd00002330sv000010DEsd000016C1bc03sc02i00`: the kernel's PCI modalias
    /// (`pci_uevent`, upper-case hex, 8 digits per ID, 0 for an unknown subsystem) with the
    /// VFIO prefix.
    public static func modalias(_ f: PCIFunction) -> String {
        func id(_ s: String?) -> String {
            let v = s.flatMap { UInt32($0, radix: 16) } ?? 0
            let h = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, 8 - h.count)) + h
        }
        return "vfio_pci:v\(id(f.vendor))d\(id(f.device))sv\(id(f.subsystemVendor))sd\(id(f.subsystemDevice))"
            + "bc\(f.classCode.base.uppercased())sc\(f.classCode.sub.uppercased())i\(f.classCode.progIf.uppercased())"
    }

    /// Parses `modules.alias` text: keeps `alias vfio_pci:… module` lines, skips comments,
    /// blank lines and other aliases; a line that is none of these is named once (with how
    /// many such lines there are) in `warnings`. `\r\n` line ends are accepted.
    public static func parse(_ text: String, path: String, warnings: inout [ProbeWarning]) -> VFIOModuleAliases {
        var entries: [Entry] = []
        var bad = 0
        var firstBad: (Int, String)?
        var number = 0
        for raw in text.utf8.split(separator: 0x0a, omittingEmptySubsequences: false) {
            number += 1
            var line = Substring(raw)
            if line.last == "\r" { line = line.dropLast() }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty || fields[0].hasPrefix("#") { continue }
            guard fields[0] == "alias", fields.count == 3, fields[2].utf8.allSatisfy(Self.isModuleByte) else {
                bad += 1
                if firstBad == nil { firstBad = (number, String(line.prefix(80))) }
                continue
            }
            guard fields[1].hasPrefix("vfio_pci:") else { continue }
            entries.append(Entry(pattern: String(fields[1]), module: String(fields[2])))
        }
        if let (n, text) = firstBad {
            warnings.append(
                ProbeWarning(
                    path: path,
                    message:
                        "\(path) line \(n) is not an `alias PATTERN MODULE` line (\"\(text)\")"
                        + (bad > 1 ? "; \(bad) such lines" : "") + ": skipped; VFIO variant drivers are chosen from the other lines"))
        }
        return VFIOModuleAliases(entries: entries, path: path)
    }

    static func isModuleByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f || c == 0x2d
    }

    /// Shell-style glob with `*` (any run) and `?` (one byte); every other byte is literal.
    public static func glob(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var pi = 0, ti = 0
        var star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == 0x3f || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == 0x2a {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == 0x2a { pi += 1 }
        return pi == p.count
    }
}

extension Probe {
    /// Reads `<modulesRoot>/<release>/modules.alias`, the release from
    /// `<proc>/sys/kernel/osrelease` (or, with no proc root, the one directory under
    /// `modulesRoot`). Never throws: what could not be read is a warning and the result is
    /// `.none` (vfio-pci for every device).
    public func vfioAliases(modulesRoot: String, proc: String?) -> (VFIOModuleAliases, [ProbeWarning]) {
        var warnings: [ProbeWarning] = []
        var release: String?
        if let proc {
            let p = proc + "/sys/kernel/osrelease"
            do {
                release = try BoundedFile.readTextIfPresent(p, limit: BoundedFile.Limit.small)
                    .map { String($0.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == " " }).first ?? "") }
            } catch {
                warnings.append(ProbeWarning(path: p, message: error.description))
            }
        } else if let names = SysfsRoot.list(modulesRoot), names.count == 1 {
            release = names[0]
        }
        guard let release, !release.isEmpty, !release.contains("/") else {
            warnings.append(
                ProbeWarning(
                    path: modulesRoot,
                    message:
                        "the running kernel's release is unknown, so \(modulesRoot)/<release>/modules.alias was not read: vfio-pci for every device"
                ))
            return (.none, warnings)
        }
        let path = modulesRoot + "/" + release + "/modules.alias"
        do {
            guard let bytes = try BoundedFile.readIfPresent(path, limit: VFIOModuleAliases.limit) else {
                warnings.append(ProbeWarning(path: path, message: "no \(path): vfio-pci for every device"))
                return (.none, warnings)
            }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                warnings.append(ProbeWarning(path: path, message: "\(path) is not UTF-8 text: vfio-pci for every device"))
                return (.none, warnings)
            }
            return (VFIOModuleAliases.parse(text, path: path, warnings: &warnings), warnings)
        } catch {
            warnings.append(ProbeWarning(path: path, message: error.description + ": vfio-pci for every device"))
            return (.none, warnings)
        }
    }
}
