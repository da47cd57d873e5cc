using System.Globalization;
using Meridian.Bench.Fuzz;

namespace Meridian.Fuzz.Tests;

/// <summary>
/// Each parser's harness for a bounded time in ./test.sh (bench/fuzz runs them as long as wanted): no input may crash
/// it or break its checks (no amplification to strangers, well-formed mode 6 fragments, diagnostics inside the text).
/// The seed is fixed so that a failure can be replayed; the figures go to TestResults/figures.txt.
/// </summary>
public sealed class FuzzTests
{
    private const int Seed = 20261122;

    [Theory]
    [InlineData("packet")]
    [InlineData("mode6")]
    [InlineData("ntp.conf")]
    [InlineData("keys")]
    public void A_harness_runs_without_a_crash(string name)
    {
        FuzzTarget target = Targets.All().Single(t => t.Name == name);
        FuzzResult result = Fuzzer.Run(target, TimeSpan.FromSeconds(3), Seed);

        Assert.True(result.Crashes == 0, result.FirstCrash);
        // That the harness ran, not how fast: beside the end-to-end tests' daemons the machine may be slow.
        Assert.True(result.Inputs > target.Corpus.Count + 1_000, $"only {result.Inputs} inputs in {result.Elapsed}");
        Record(string.Create(CultureInfo.InvariantCulture, $"fuzz {result.Target}: {result.Inputs} inputs in {result.Elapsed.TotalSeconds:0.0} s, {result.Crashes} crashes"));
    }

    private static void Record(string line)
    {
        string? directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "Meridian.sln")))
        {
            directory = Path.GetDirectoryName(directory);
        }

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
