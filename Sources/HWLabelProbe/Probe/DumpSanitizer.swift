import Glibc

/// Checks each line of an lspci dump before libpci reads it (see `DumpScanner`): the lines
/// libpci would abort on are dropped, each with a warning that names it.
enum DumpSanitizer {
    /// What a device's header line says: its line number, and the IDs, class and revision that
    /// `lspci -nn` prints there (`2f:00.0 SD Host controller [0805]: Genesys Logic, Inc GL9755
    /// SD Host Controller [17a0:9755] (rev 01) (prog-if 01)`); nil where plain `lspci` gave names only.
    struct Header: Equatable {
        var line: Int
        var vendor: UInt16?
        var device: UInt16?
        var classCode: UInt32?
        var revision: UInt8?

        init(line: Int, text: Substring) {
            self.line = line
            // `[cccc]:` ends the class; the last `[vvvv:dddd]` is the vendor and device.
            if let r = text.range(of: "]: "), text.distance(from: text.startIndex, to: r.lowerBound) >= 5,
                text[text.index(r.lowerBound, offsetBy: -5)] == "[",
                let c = Self.hex(text[text.index(r.lowerBound, offsetBy: -4)..<r.lowerBound], 4)
            {
                var progIf: UInt64 = 0
                if let pr = text.range(of: "(prog-if ") { progIf = Self.hex(text[pr.upperBound...].prefix(2), 2) ?? 0 }
                classCode = UInt32(c << 8 | progIf)
            }
            var rest = text[...]
            while let open = rest.lastIndex(of: "[") {
                let inner = rest[rest.index(after: open)...].prefix(10)
                if inner.count == 10, inner.last == "]", inner[inner.index(inner.startIndex, offsetBy: 4)] == ":",
                    let v = Self.hex(inner.prefix(4), 4), let d = Self.hex(inner.dropFirst(5).prefix(4), 4)
                {
                    (vendor, device) = (UInt16(v), UInt16(d))
                    break
                }
                rest = rest[..<open]
            }
            if let rr = text.range(of: " (rev ") { revision = Self.hex(text[rr.upperBound...].prefix(2), 2).map { UInt8($0) } }
        }

        /// Exactly `digits` hex digits.
        private static func hex(_ s: Substring, _ digits: Int) -> UInt64? {
            s.count == digits ? hexValue(s.utf8) : nil
        }
    }

    /// The clean copy for libpci, and each kept block's header line by address.
    struct Output {
        var text: [UInt8] = []
        var headers: [String: Header] = [:]
    }

    /// Longest line handed to libpci (its buffer holds 254 bytes and the newline).
    static let maxLine = 250
    /// Warnings about dropped lines, per dump, before the rest are counted in one.
    static let maxLineWarnings = 200

    /// `sanitize` over text, for tests.
    static func sanitize(_ text: String, file: String, warnings: inout [ProbeWarning]) -> String {
        String(decoding: sanitize(Array(text.utf8), file: file, warnings: &warnings).text, as: UTF8.self)
    }

    /// Keeps device header lines, valid hex lines and text; drops what would make libpci abort
    /// or read bytes under the wrong device. Every kept line is classified here exactly as
    /// libpci will classify it, so that what the scanner believes and what libpci reads agree:
    /// wherever a block is dropped, a blank line goes to libpci in its place (a blank line ends
    /// a device there), so its hex lines are read under no device at all.
    static func sanitize(_ raw: [UInt8], file: String, warnings: inout [ProbeWarning]) -> Output {
        var out = Output()
        out.text.reserveCapacity(raw.count + 1)
        var bytes = raw[...]
        // A UTF-8 byte order mark (a dump saved by a Windows editor) would hide the first header.
        if bytes.starts(with: [0xef, 0xbb, 0xbf]) { bytes = bytes.dropFirst(3) }

        var current: PCIAddress? // the device libpci is reading hex lines into
        var lastOffset = -1 // its last hex line's offset
        var firstLine: [PCIAddress: Int] = [:]
        var skipping = false // in a block already dropped (and warned about)
        var orphanWarned = false
        var lastText: (line: Int, text: ArraySlice<UInt8>)?
        var dropped = 0
        func warn(_ address: PCIAddress?, _ message: String) {
            dropped += 1
            if dropped <= maxLineWarnings {
                warnings.append(ProbeWarning(address: address?.description, path: file, message: message))
            }
        }
        func quote(_ l: ArraySlice<UInt8>) -> String {
            "\"" + String(decoding: l.prefix(60).filter { $0 != 0 }, as: UTF8.self) + (l.count > 60 ? "…" : "") + "\""
        }
        func endBlock() {
            out.text.append(0x0a)
            current = nil
        }

        var n = 0
        var rest = bytes
        while !rest.isEmpty {
            n += 1
            let nl = rest.firstIndex(of: 0x0a)
            var line = rest[..<(nl ?? rest.endIndex)]
            rest = nl.map { rest[rest.index(after: $0)...] } ?? rest[rest.endIndex...]
            while line.last == 0x0d { line = line.dropLast() }

            if line.isEmpty {
                endBlock()
                skipping = false
                orphanWarned = false
                lastText = nil
                continue
            }
            switch classify(line) {
            case .header(let h):
                orphanWarned = false
                lastText = nil
                guard h.device < 32, h.function < 8 else {
                    warn(
                        nil,
                        "\(file):\(n): device header \(quote(line)) names an impossible address (device over 1f or function over 7): block dropped"
                    )
                    endBlock()
                    skipping = true
                    continue
                }
                let a = PCIAddress(domain: h.domain, bus: h.bus, device: h.device, function: h.function)
                if let first = firstLine[a] {
                    warn(a, "\(file):\(n): \(a) appears again (first at line \(first)): this block dropped")
                    endBlock()
                    skipping = true
                    continue
                }
                firstLine[a] = n
                out.headers[a.description] = Header(line: n, text: Substring(String(decoding: line, as: UTF8.self)))
                // To libpci: the address as it parses it, one space, the text (display only)
                // without NULs, cut to fit its line buffer.
                var kept = Array(line.prefix(h.length))
                if h.length == line.count { kept.append(0x20) }
                kept += line.dropFirst(h.length).filter { $0 != 0 }
                out.text += kept.prefix(maxLine)
                out.text.append(0x0a)
                current = a
                lastOffset = -1
                skipping = false
            case .unreadableHeader(let a):
                warn(a, "\(file):\(n): \(a): libpci's dump reader takes domains of at most 5 hex digits: block dropped")
                orphanWarned = false
                lastText = nil
                endBlock()
                skipping = true
            case .hex(let offset, let valid):
                guard let dev = current else {
                    // libpci reads these under no device: name them once per run.
                    if !skipping && !orphanWarned {
                        let above = lastText.map { " (line \($0.line), \(quote($0.text)), is not a device header)" } ?? ""
                        warn(nil, "\(file):\(n): config-space bytes with no device header above them ignored" + above)
                        orphanWarned = true
                    }
                    continue
                }
                if line.count > maxLine || !valid {
                    warn(dev, "\(file):\(n): malformed config-space line dropped: \(quote(line))")
                    continue
                }
                if offset <= lastOffset {
                    // lspci prints offsets in order: a hex line that goes back starts a block
                    // whose header is missing (a damaged line above); its bytes are no one's.
                    warn(
                        dev,
                        "\(file):\(n): config-space offset \(String(offset, radix: 16)) again after \(String(lastOffset, radix: 16)): the block's header is missing, lines up to the next blank line ignored"
                    )
                    endBlock()
                    skipping = true
                    continue
                }
                lastOffset = offset
                out.text += line
                out.text.append(0x0a)
            case .text:
                // Text inside a dropped block is dropped with it (libpci would ignore it).
                if skipping { continue }
                if line.count > maxLine {
                    warn(current, "\(file):\(n): line over \(maxLine) characters dropped")
                    continue
                }
                if line.contains(0) {
                    warn(current, "\(file):\(n): line with a NUL byte dropped: \(quote(line))")
                    continue
                }
                lastText = (n, line)
                out.text += line
                out.text.append(0x0a)
            }
        }
        if dropped > maxLineWarnings {
            warnings.append(ProbeWarning(path: file, message: "\(file): \(dropped - maxLineWarnings) more dropped lines not listed"))
        }
        if firstLine.isEmpty {
            warnings.append(
                ProbeWarning(
                    path: file, message: "\(file): no device header lines (\"BB:DD.F …\"): not an lspci -x dump, no functions read"))
        }
        return out
    }

    /// What a line is to libpci's dump reader.
    enum Line: Equatable {
        /// A device header as libpci parses it (`%x:%x.%d`, `%x:%x:%x.%d`): its device can be up
        /// to 0xff and its function 0 to 9. `length`: the bytes of the address.
        case header(LibpciAddress)
        /// A `DDDDDD:BB:DD.F` header with a 6- to 8-digit domain, which libpci does not see as one.
        case unreadableHeader(PCIAddress)
        /// `OO: hh hh …`: 2 to 8 hex digits of offset, `: `; `valid` when the bytes are 1 to
        /// 16 two-digit hex bytes separated by single spaces, ending below offset 4096.
        case hex(offset: Int, valid: Bool)
        case text
    }

    struct LibpciAddress: Equatable {
        var domain: UInt32
        var bus: UInt8
        var device: UInt8
        var function: UInt8
        var length: Int
    }

    static func isHex(_ c: UInt8) -> Bool { hexDigitValue(c) != nil }

    static func classify(_ line: ArraySlice<UInt8>) -> Line {
        let b = Array(line.prefix(20))
        // `BB:DD.F`, `DDDD:BB:DD.F`, `DDDDD:BB:DD.F`, then a space or the end of the line (lspci
        // always prints text after it; a bare address gets the space added).
        func value(_ r: Range<Int>) -> UInt32 { UInt32(hexValue(b[r]) ?? 0) }
        for domainDigits in [0, 4, 5] {
            let d = domainDigits == 0 ? 0 : domainDigits + 1
            let len = d + 7
            guard b.count >= len, b.count == len || b[len] == 0x20 else { continue }
            if domainDigits > 0 { guard b[0..<domainDigits].allSatisfy(isHex), b[domainDigits] == 0x3a else { continue } }
            guard isHex(b[d]), isHex(b[d + 1]), b[d + 2] == 0x3a, isHex(b[d + 3]), isHex(b[d + 4]), b[d + 5] == 0x2e,
                (0x30...0x39).contains(b[d + 6])
            else { continue }
            return .header(
                LibpciAddress(
                    domain: domainDigits == 0 ? 0 : value(0..<domainDigits), bus: UInt8(value(d..<d + 2)),
                    device: UInt8(value(d + 3..<d + 5)), function: b[d + 6] - 0x30, length: len))
        }
        if let space = b.firstIndex(of: 0x20), space >= 14, let a = PCIAddress(String(decoding: b[..<space], as: UTF8.self)) {
            return .unreadableHeader(a)
        }
        var k = 0
        while k < b.count, k <= 8, isHex(b[k]) { k += 1 }
        guard (2...8).contains(k), k + 1 < b.count, b[k] == 0x3a, b[k + 1] == 0x20 else { return .text }
        let offset = Int(hexValue(b[0..<k]) ?? 0)
        let bytes = line.dropFirst(k + 2).split(separator: 0x20, omittingEmptySubsequences: false)
        let valid =
            (1...16).contains(bytes.count) && offset + bytes.count <= 4096
            && bytes.allSatisfy { $0.count == 2 && isHex($0.first!) && isHex($0.last!) }
        return .hex(offset: offset, valid: valid)
    }
}
