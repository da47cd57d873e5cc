using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Meridian.Ntpviz.Tests;

/// <summary>Where the repository and the ntpviz binary are, and how to run a program with a deadline.</summary>
internal static class Tool
{
    public static readonly string RepoRoot = FindRepoRoot();

    /// <summary>
    /// The published ntpviz (out/ntpviz, what build.sh makes) or the one the test build made, whichever is newer: a
    /// stale out/ from before the last change would test old code.
    /// </summary>
    public static string Ntpviz()
    {
        string published = Path.Combine(Environment.GetEnvironmentVariable("MERIDIAN_OUT_DIR") ?? Path.Combine(RepoRoot, "out"), "ntpviz");
        string bin = Path.Combine(RepoRoot, "src", "Tools", "ntpviz", "bin", "Release");
        string? built = System.IO.Directory.Exists(bin) ? System.IO.Directory.EnumerateFiles(bin, "ntpviz", SearchOption.AllDirectories).FirstOrDefault() : null;
        DateTime Age(string? apphost) => apphost is not null && File.Exists(apphost + ".dll") ? File.GetLastWriteTimeUtc(apphost + ".dll") : DateTime.MinValue;
        string? newest = new[] { File.Exists(published) ? published : null, built }.Where(p => p is not null).OrderByDescending(Age).FirstOrDefault();
        return newest ?? throw new InvalidOperationException($"no ntpviz binary in out/ or {bin}: run ./build.sh");
    }

    /// <summary>Runs a program to its end or the deadline; on the deadline it is killed by its PID and the result says so.</summary>
    public static (int ExitCode, string Stdout, string Stderr, bool TimedOut) Run(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        bool timedOut = !process.WaitForExit(timeout);
        if (timedOut)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        else
        {
            process.WaitForExit();
        }

        lock (stdout)
        {
            lock (stderr)
            {
                return (timedOut ? -1 : process.ExitCode, stdout.ToString(), stderr.ToString(), timedOut);
            }
        }
    }

    private static string FindRepoRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "Meridian.sln")))
            {
                return dir;
            }
        }

        throw new InvalidOperationException("Meridian.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>Measured figures, appended to TestResults/figures.txt, which ./test.sh prints.</summary>
internal static class Figures
{
    private static readonly object Gate = new();

    public static void Record(string line)
    {
        string dir = Path.Combine(Tool.RepoRoot, "TestResults");
        System.IO.Directory.CreateDirectory(dir);
        lock (Gate)
        {
            File.AppendAllText(Path.Combine(dir, "figures.txt"), line + Environment.NewLine);
        }
    }
}

/// <summary>Reads back the summary tables of a report by their ids and classes: section → series → statistic → value.</summary>
internal static partial class ReportTables
{
    [GeneratedRegex("""<table class="summary" id="summary-(?<id>[^"]+)">(?<body>.*?)</table>""", RegexOptions.Singleline)]
    private static partial Regex Table();

    [GeneratedRegex("""<tr class="series" data-series="(?<name>[^"]+)">(?<cells>.*?)</tr>""", RegexOptions.Singleline)]
    private static partial Regex Row();

    [GeneratedRegex("""<td class="(?<stat>\w+)" data-value="(?<value>[^"]+)">(?<text>[^<]*)</td>""")]
    private static partial Regex Cell();

    public static Dictionary<string, Dictionary<string, Dictionary<string, double>>> Parse(string html)
    {
        var tables = new Dictionary<string, Dictionary<string, Dictionary<string, double>>>();
        foreach (Match t in Table().Matches(html))
        {
            var rows = new Dictionary<string, Dictionary<string, double>>();
            foreach (Match r in Row().Matches(t.Groups["body"].Value))
            {
                rows[r.Groups["name"].Value] = Cell().Matches(r.Groups["cells"].Value)
                    .ToDictionary(c => c.Groups["stat"].Value, c => double.Parse(c.Groups["value"].Value, CultureInfo.InvariantCulture));
            }

            tables[t.Groups["id"].Value] = rows;
        }

        return tables;
    }

    /// <summary>The number in a span of the report's header, e.g. loop-count.</summary>
    public static int Span(string html, string id) =>
        int.Parse(Regex.Match(html, $"""<span id="{id}">(\d+)</span>""").Groups[1].Value, CultureInfo.InvariantCulture);
}
