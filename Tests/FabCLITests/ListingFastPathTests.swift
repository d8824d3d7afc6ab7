import ArgumentParser
import Testing
@testable import FabCLI

@Suite("Listing command lines read without ArgumentParser")
struct ListingFastPathTests {
    @Test("-l, --list, --shortlist and -f are read as ArgumentParser reads them", arguments: [
        ["-l"], ["--list"], ["--shortlist"], ["-l", "--shortlist"], ["--shortlist", "-l"],
        ["-f", "deploy.swift", "-l"], ["-l", "--fabfile", "ops/Fabfiles"], ["--fabfile=a b.swift", "--shortlist"],
        ["-l", "-l"],
    ])
    func agreesWithArgumentParser(_ arguments: [String]) throws {
        let listing = try #require(FabCLI.Listing(arguments: arguments))
        let command = try #require(try FabCommand.parseAsRoot(arguments) as? FabCommand)
        #expect(listing.fabfile == command.fabfileOptions.fabfile)
        #expect(listing.short == (command.fabfileOptions.shortlist && !command.fabfileOptions.list))
        #expect(command.tasks.isEmpty)
        #expect(command.runOptions == RunOptions())
    }

    @Test("anything else goes to ArgumentParser", arguments: [
        [], ["deploy"], ["-l", "deploy"], ["-l", "-H", "web1"], ["-l", "--rebuild"], ["-l", "--show", "debug"],
        ["-f"], ["-l", "-f"], ["-l", "-f", "--rebuild"], ["-l", "-f", ""], ["-l", "--fabfile="],
        ["-l", "-f", "a.swift", "-f", "b.swift"], ["-d", "deploy"], ["-l", "--help"], ["--version"], ["-lw"],
    ])
    func declines(_ arguments: [String]) {
        #expect(FabCLI.Listing(arguments: arguments) == nil)
    }
}
