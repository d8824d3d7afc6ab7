import Foundation
import Testing
@testable import FabDeploy

@Suite("dpkg-shlibdeps warnings")
struct ShlibdepsWarningsTests {
    @Test func summarisesByKindCommonestFirst() {
        let stderr = """
            dpkg-shlibdeps: warning: $ORIGIN is used in RPATH of /b/pkg/PIL/_imaging.so and the corresponding directory could not be identified
            dpkg-shlibdeps: warning: binaries to analyze should already be installed in their package's directory
            dpkg-shlibdeps: warning: binaries to analyze should already be installed in their package's directory
            dpkg-shlibdeps: warning: $ORIGIN is used in RPATH of /b/pkg/PIL/_webp.so and the corresponding directory could not be identified
            dpkg-shlibdeps: warning: binaries to analyze should already be installed in their package's directory
            dpkg-shlibdeps: warning: package could avoid a useless dependency if /b/x.so was not linked against libm.so.6 (it uses none of the library's symbols)
            dpkg-shlibdeps: error: not a warning
            """
        let warnings = ShlibdepsWarnings(standardError: stderr)
        #expect(warnings.lines.count == 6)
        #expect(warnings.kinds.map(\.count) == [3, 2, 1])
        #expect(warnings.summary == "dpkg-shlibdeps: 6 warning(s) (3 × binaries to analyze should already be installed in their package's directory; 2 × $ORIGIN is used in RPATH of … and the corresponding directory could not be identified; 1 more kind(s)); `fab --show debug` prints them all")
        #expect(ShlibdepsWarnings(standardError: "").summary == nil)
    }
}
