/// GPU architecture from the pci.ids chip codename, plus a small versioned catalog for what the
/// names do not say.
///
/// The codename table is hand-written: no maintained machine-readable source maps chip codenames
/// to architectures. It follows the vendors' public naming (NVIDIA TU = Turing, GA = Ampere, …;
/// AMD Navi 2x = RDNA2, Aldebaran = CDNA2, …). Each answer says where it came from.
public enum GPUCatalog {
    /// Bump when an entry changes; reports carry `catalog@<version>` as the source.
    public static let version = "2026.11"

    public static func family(vendor: String) -> String {
        switch vendor {
        case "10de": "nvidia"
        case "1002": "amd"
        case "8086": "intel"
        case "1a03": "aspeed"
        case "1af4": "virtio"
        case "15ad": "vmware"
        case "1234": "qemu"
        case "1b36": "qemu"
        case "102b": "matrox"
        default: vendor
        }
    }

    /// NVIDIA chip prefixes (letters before the digits of the codename).
    static let nvidiaPrefixes: [(String, String)] = [
        ("GB", "Blackwell"), ("GH", "Hopper"), ("AD", "Ada Lovelace"), ("GA", "Ampere"),
        ("TU", "Turing"), ("GV", "Volta"), ("GP", "Pascal"), ("GM", "Maxwell"), ("GK", "Kepler"),
        ("GF", "Fermi"),
    ]

    /// AMD codename words, matched at the start of the pci.ids device name.
    static let amdCodenames: [(String, String)] = [
        ("Navi 4", "RDNA4"), ("Navi 3", "RDNA3"), ("Navi 2", "RDNA2"), ("Navi 1", "RDNA1"),
        ("Aqua Vanjaram", "CDNA3"), ("Aldebaran", "CDNA2"), ("Arcturus", "CDNA1"),
        ("Vega 20", "GCN5"), ("Vega 10", "GCN5"), ("Vega", "GCN5"), ("Renoir", "GCN5"), ("Cezanne", "GCN5"),
        ("Raven", "GCN5"), ("Picasso", "GCN5"), ("Lucienne", "GCN5"),
        ("Ellesmere", "GCN4"), ("Baffin", "GCN4"), ("Lexa", "GCN4"), ("Polaris", "GCN4"),
        ("Fiji", "GCN3"), ("Tonga", "GCN3"), ("Hawaii", "GCN2"), ("Bonaire", "GCN2"),
        ("Tahiti", "GCN1"), ("Pitcairn", "GCN1"), ("Cape Verde", "GCN1"), ("Oland", "GCN1"),
        ("Turks", "TeraScale 2"), ("Caicos", "TeraScale 2"), ("Barts", "TeraScale 2"),
        ("Juniper", "TeraScale 2"), ("Cypress", "TeraScale 2"), ("Redwood", "TeraScale 2"),
        ("Cedar", "TeraScale 2"), ("RV", "TeraScale"),
    ]

    /// Intel names carry product families rather than chip codenames.
    static let intelMarkers: [(String, String)] = [
        ("Ponte Vecchio", "Xe-HPC"), ("DG2", "Xe-HPG"), ("Arc ", "Xe-HPG"), ("Battlemage", "Xe2"),
        ("Lunar Lake", "Xe2"), ("Meteor Lake", "Xe-LPG"), ("Arrow Lake", "Xe-LPG"),
        ("Iris Xe", "Xe-LP"), ("Alder Lake", "Xe-LP"), ("Raptor Lake", "Xe-LP"), ("TigerLake", "Xe-LP"),
        ("Tiger Lake", "Xe-LP"), ("Rocket Lake", "Xe-LP"), ("DG1", "Xe-LP"),
        ("Ice Lake", "Gen11"), ("IceLake", "Gen11"), ("Skylake", "Gen9"), ("Kaby Lake", "Gen9"),
        ("KabyLake", "Gen9"), ("Coffee Lake", "Gen9"), ("CoffeeLake", "Gen9"), ("Comet Lake", "Gen9"),
        ("CometLake", "Gen9"), ("Whiskey Lake", "Gen9"), ("Broadwell", "Gen8"), ("Haswell", "Gen7.5"),
        ("Xeon E3-1200 v3", "Gen7.5"), ("HD Graphics 4600", "Gen7.5"),
    ]

    /// Device-ID entries for what names do not say. Keys are `vvvv:dddd`.
    static let entries: [String: String] = [
        "1af4:1050": "virtio-gpu",
        "1234:1111": "bochs-display",
        "1b36:0100": "qxl",
        "15ad:0405": "vmware-svga",
        "1a03:2000": "ASPEED BMC",
        "102b:0522": "Matrox G200e",
        "102b:0533": "Matrox G200eH",
        "102b:0534": "Matrox G200eR2",
    ]

    /// The codename that opens an NVIDIA or AMD device name (`TU104GL`, `Navi 31`).
    public static func chip(vendor: String, deviceName: String?) -> String? {
        guard let name = deviceName else { return nil }
        switch vendor {
        case "10de":
            let first = name.split(separator: " ").first.map(String.init) ?? ""
            let letters = first.prefix { $0.isLetter }
            guard letters.count == 2, first.dropFirst(2).first?.isNumber == true else { return nil }
            return first
        case "1002":
            for (word, _) in amdCodenames where name.hasPrefix(word) {
                let head = name.split(separator: "[").first.map { $0.trimmedBlanks() } ?? name
                return head
            }
            return nil
        default:
            return nil
        }
    }

    public static func architecture(vendor: String, device: String, deviceName: String?) -> Sourced<String>? {
        if let name = deviceName {
            switch vendor {
            case "10de":
                if let c = chip(vendor: vendor, deviceName: name),
                    let hit = nvidiaPrefixes.first(where: { c.hasPrefix($0.0) })
                {
                    return Sourced(hit.1, source: "name-heuristic")
                }
            case "1002":
                if let hit = amdCodenames.first(where: { name.hasPrefix($0.0) }) {
                    return Sourced(hit.1, source: "name-heuristic")
                }
            case "8086":
                if let hit = intelMarkers.first(where: { name.contains($0.0) }) {
                    return Sourced(hit.1, source: "name-heuristic")
                }
            default: break
            }
        }
        if let hit = entries[vendor + ":" + device] { return Sourced(hit, source: "catalog@\(version)") }
        return nil
    }
}
