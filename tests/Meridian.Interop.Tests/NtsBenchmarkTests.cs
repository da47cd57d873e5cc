using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Meridian.Interop.Tests;

/// <summary>
/// bench/nts, briefly: both NTS servers (our ntpd and chronyd) complete NTS-KE handshakes and answer NTS requests that
/// authenticate, and the table comes out. The figures are not asserted (the machine is shared); docs/nts.md has a full run.
/// </summary>
[Collection(FloodCollection.Name)]
public sealed class NtsBenchmarkTests
{
    [InteropFact]
    public void The_NTS_benchmark_measures_both_servers()
    {
        // Built beside this project (bin/<configuration>/net10.0), as the project reference makes it.
        string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        string bench = Path.Combine(Sandbox.RepoRoot, "bench", "nts", "bin", configuration, "net10.0", "nts.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { bench, "--seconds", "2", "--warmup", "0.5", "--inflight", "8", "--concurrency", "2", "--ntpd", Sandbox.Out("ntpd"), "--chronyd", Sandbox.Chronyd })
        {
            info.ArgumentList.Add(a);
        }

        using Process process = Process.Start(info)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            // The benchmark deletes its namespace and stops its servers itself; killed, it leaves them to nothing but this bound.
            process.Kill();
        }

        process.WaitForExit();
        string output = stdout.Result + stderr.Result;
        Assert.True(process.ExitCode == 0, output);
        foreach (string server in new[] { "ours", "chronyd" })
        {
            Match m = Regex.Match(stdout.Result, $@"^{server}: (\d+) handshakes in [\d.]+ s \((\d+) failed\), server CPU [\d.]+ s; (\d+) authenticated replies to (\d+) requests", RegexOptions.Multiline);
            Assert.True(m.Success, output);
            Assert.True(long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) > 0, output);
            Assert.True(long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture) > 0, output);
            Figures.Record($"bench/nts (2 s): {m.Value}");
        }

        Assert.Matches(new Regex(@"^\| NTS requests/s \(8 in flight\)\s+\|\s+\d+ \|\s+\d+ \|\s+[\d.]+ \|$", RegexOptions.Multiline), stdout.Result);
    }
}
