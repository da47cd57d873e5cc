using System.Diagnostics;
using System.Globalization;

namespace Meridian.Fuzz.Tests;

/// <summary>
/// The coverage-guided run of bench/fuzz/afl.sh, short: afl++ steers each harness by the edges it reaches in the
/// instrumented Meridian assemblies, so it gets past checks the random mutator rarely satisfies. No target may
/// crash; the figures go to TestResults/figures.txt beside the random fuzzer's.
/// </summary>
public sealed class AflTests
{
    /// <summary>Per target; ten targets, the publish and instrumentation keep the whole test near 75 s.</summary>
    private const int Seconds = 5;

    [AflFact]
    public void Afl_finds_no_crash_in_a_short_run()
    {
        string root = FuzzTests.RepositoryRoot() ?? throw new InvalidOperationException("Meridian.sln not found");
        var start = new ProcessStartInfo("bash", [Path.Combine(root, "bench", "fuzz", "afl.sh"), Seconds.ToString(CultureInfo.InvariantCulture)])
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(300)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("afl.sh ran past 300 s");
        }

        string output = stdout.Result;
        Assert.True(process.ExitCode == 0, $"afl.sh exit {process.ExitCode}\n{output}\n{stderr.Result}");
        string[] rows = output.Split('\n').SkipWhile(l => !l.StartsWith("target ", StringComparison.Ordinal)).Skip(1)
            .Where(l => l.Length > 0).ToArray();
        Assert.Equal(Directory.GetDirectories(Path.Combine(root, "bench", "fuzz", "corpus")).Length, rows.Length);
        foreach (string row in rows)
        {
            string[] f = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(long.Parse(f[1], CultureInfo.InvariantCulture) > 1_000 && f[3] == "0", row);
            FuzzTests.Record($"afl {f[0]}: {f[1]} execs in {Seconds} s, {f[2]} paths, {f[3]} crashes, {f[4]} hangs");
        }
    }
}

/// <summary>
/// Runs where afl-fuzz is installed (./test.sh installs afl++); skipped otherwise, unless MERIDIAN_REQUIRE_INTEROP=1
/// (set by ./test.sh as root), where afl.sh must install it and run.
/// </summary>
internal sealed class AflFactAttribute : FactAttribute
{
    public AflFactAttribute()
    {
        bool installed = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "afl-fuzz")));
        if (!installed && Environment.GetEnvironmentVariable("MERIDIAN_REQUIRE_INTEROP") != "1")
        {
            Skip = "afl-fuzz is not installed (apt-get install afl++)";
        }
    }
}
