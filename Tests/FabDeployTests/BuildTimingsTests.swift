import Testing
@testable import FabDeploy

@Suite("Build step timings and skipping apt")
struct BuildTimingsTests {
    @Test("the summary lists steps in order, adds repeated steps and totals them")
    func summary() {
        var timings = BuildTimings()
        timings.add("apt", seconds: 1.74)
        timings.add("source", seconds: 0.2)
        timings.add("venv", seconds: 9.6)
        timings.add("source", seconds: 0.3)
        #expect(timings.steps.map(\.name) == ["apt", "source", "venv"])
        #expect(timings.summary == "step timings: apt 1.7 s, source 0.5 s, venv 9.6 s; total 11.8 s")
    }

    @Test("apt is skipped only for plain package names, with a stamp younger than the limit")
    func aptCheck() throws {
        let check = try #require(DeploymentCommands.aptAlreadyReady(["gcc", "python3.11-dev", "gcc"], stamp: "/home/d/.cache/fab-apt-updated", maxAgeMinutes: 60))
        #expect(check.contains("find /home/d/.cache/fab-apt-updated -mmin -60"))
        #expect(check.contains("-- gcc python3.11-dev 2>/dev/null | grep -c '^ii')\" = 2 ]"))
        #expect(check.contains("/etc/apt/sources.list.d"))
        #expect(DeploymentCommands.aptAlreadyReady(["gcc"], stamp: "/s", maxAgeMinutes: 0) == nil)
        #expect(DeploymentCommands.aptAlreadyReady(["libpq-dev=15.1-1"], stamp: "/s", maxAgeMinutes: 60) == nil)
        #expect(DeploymentCommands.touchAptStamp("/home/d/.cache/fab-apt-updated") == "mkdir -p /home/d/.cache && touch /home/d/.cache/fab-apt-updated")
    }
}
