using System.Globalization;
using Meridian.Bench.Fuzz;

namespace Meridian.Fuzz.Tests;

/// <summary>
/// Each parser's harness for a bounded time in ./test.sh (bench/fuzz runs them as long as wanted): no input may crash
/// it or break its checks (no amplification to strangers, well-formed mode 6 fragments, diagnostics inside the text,
/// NMEA fields in range and obscured copies inside their buffer, SHM segments that round-trip).
/// The seed is fixed so that a failure can be replayed; the figures go to TestResults/figures.txt.
/// </summary>
public sealed class FuzzTests
{
    private const int Seed = 20261122;

    /// <summary>Every harness of <see cref="Targets.All"/> has a row; the small parsers (NMEA, SHM) saturate in 1 s.</summary>
    [Theory]
    [InlineData("packet", 3)]
    [InlineData("mode6", 3)]
    [InlineData("ntp.conf", 3)]
    [InlineData("keys", 3)]
    [InlineData("nmea", 1)]
    [InlineData("shm", 1)]
    [InlineData("ntske", 1)]
    [InlineData("ntsfields", 1)]
    [InlineData("cookie", 1)]
    [InlineData("ntspacket", 2)]
    public void A_harness_runs_without_a_crash(string name, double seconds)
    {
        FuzzTarget target = Targets.All().Single(t => t.Name == name);
        FuzzResult result = Fuzzer.Run(target, TimeSpan.FromSeconds(seconds), Seed);

        Assert.True(result.Crashes == 0, result.FirstCrash);
        // That the harness ran, not how fast: beside the end-to-end tests' daemons the machine may be slow.
        Assert.True(result.Inputs > target.Corpus.Count + 1_000, $"only {result.Inputs} inputs in {result.Elapsed}");
        Record(string.Create(CultureInfo.InvariantCulture, $"fuzz {result.Target}: {result.Inputs} inputs in {result.Elapsed.TotalSeconds:0.0} s, {result.Crashes} crashes"));
    }

    [Fact]
    public void Every_harness_has_a_row()
    {
        string[] rows = typeof(FuzzTests).GetMethod(nameof(A_harness_runs_without_a_crash))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => (string)a.GetData(null!).Single()[0]).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(Targets.All().Select(t => t.Name).Order(StringComparer.Ordinal), rows);
    }

    /// <summary>The folder holding Meridian.sln above the test's binaries, or null outside the repository.</summary>
    internal static string? RepositoryRoot()
    {
        string? directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "Meridian.sln")))
        {
            directory = Path.GetDirectoryName(directory);
        }

        return directory;
    }

    internal static void Record(string line)
    {
        string? directory = RepositoryRoot();
        if (directory is null)
        {
            return;
        }

        string results = Path.Combine(directory, "TestResults");
        Directory.CreateDirectory(results);
        lock (typeof(FuzzTests))
        {
            File.AppendAllText(Path.Combine(results, "figures.txt"), line + Environment.NewLine);
        }
    }
}
