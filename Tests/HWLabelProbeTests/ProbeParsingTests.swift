import Foundation
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// The byte-level parsers behind the scan against the library's own conversions.
@Suite("Probe: address and hex parsing")
struct ProbeParsingTests {
    @Test("PCIAddress parses what it prints, rejects what the kernel never writes")
    func addressRoundTrip() {
        for (d, b, dv, fn): (UInt32, UInt8, UInt8, UInt8) in [
            (0, 0, 0, 0), (0, 0x3b, 0x1f, 7), (0xffff, 0xff, 0, 1), (0x10000, 1, 2, 3), (1, 2, 3, 0x1f),
        ] {
            let a = PCIAddress(domain: d, bus: b, device: dv, function: fn)
            let expected = String(format: "%04x:%02x:%02x.%x", d, b, dv, fn)
            #expect(a.description == expected)
            // Only a constructed address can have a function above 7; it prints but does not parse.
            #expect(PCIAddress(expected) == (fn < 8 ? a : nil))
            #expect(PCIAddress(expected.uppercased()) == (fn < 8 ? a : nil))
        }
        #expect(PCIAddress("3b:00.1") == PCIAddress(domain: 0, bus: 0x3b, device: 0, function: 1))
        for bad in [
            "", "0000:00:00", "0000:00:20.0", "0000:00:00.8", "0000:0:00.0", "000:00:00.0",
            "0000:00:00.0x", " 0000:00:00.0", "0000-00:00.0", "0000:00:00:0", "g000:00:00.0",
            "000000000:00:00.0", "0000:00:+1.0", "0000:00:00.+",
        ] {
            #expect(PCIAddress(bad) == nil, "\(bad)")
        }
    }

    @Test("hex(_:_:) is zero-padded lower-case String(radix: 16)")
    func hexMatchesStringRadix() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let v = UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng)
            let w = Int.random(in: 0...18, using: &rng)
            let digits = String(v, radix: 16)
            #expect(hex(v, w) == String(repeating: "0", count: max(0, w - digits.count)) + digits)
        }
        #expect(hex(UInt8(0), 2) == "00" && hex(UInt16(0x10de), 4) == "10de" && hex(-5, 2) == "-5")
    }

    @Test("parseHexStrict: 0x prefix and trailing blanks only")
    func strictHex() {
        #expect(parseHexStrict("0x10de\n") == 0x10de)
        #expect(parseHexStrict("0X0300 \t\n") == 0x0300)
        #expect(parseHexStrict("ffffffffffffffff") == UInt64.max)
        for bad in ["", "0x", "zz", "0x10de0x", "0x020000 junk", " 0x1", "0x1\u{0}", "12345678901234567", "0x-1"] {
            #expect(parseHexStrict(bad) == nil, "\(bad)")
        }
    }
}
