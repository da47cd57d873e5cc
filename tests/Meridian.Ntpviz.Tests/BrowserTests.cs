using System.Text.RegularExpressions;
using Meridian.Tools.Ntpviz;
using SkiaSharp;
using Xunit.Abstractions;

namespace Meridian.Ntpviz.Tests;

/// <summary>
/// Whether Debian's chromium is here to open the report. While apt is still installing it, waits for it (at most ten
/// minutes, once per run); missing, the browser test is skipped, unless MERIDIAN_REQUIRE_INTEROP=1 (set by ./test.sh
/// as root), where it runs and fails.
/// </summary>
internal static class Browser
{
    public const string Chromium = "/usr/bin/chromium";

    private static readonly Lazy<string?> Missing = new(() =>
    {
        DateTime deadline = DateTime.UtcNow.AddMinutes(10);
        while (!File.Exists(Chromium) && PackageManagerRunning() && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(5000);
        }

        return File.Exists(Chromium) ? null : $"{Chromium} is missing (Debian package chromium; ./test.sh installs it)";
    });

    public static string? MissingPrerequisite() => Missing.Value;

    /// <summary>An apt or dpkg process is running: a package may be on its way.</summary>
    private static bool PackageManagerRunning()
    {
        foreach (string dir in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                string comm = File.ReadAllText(Path.Combine(dir, "comm")).Trim();
                if (comm is "apt" or "apt-get" or "dpkg" or "http" or "unattended-upgr")
                {
                    return true;
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return false;
    }
}

internal sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        string? missing = Browser.MissingPrerequisite();
        if (missing is not null && Environment.GetEnvironmentVariable("MERIDIAN_REQUIRE_INTEROP") != "1")
        {
            Skip = missing;
        }
    }
}

/// <summary>The report opened from disk in a headless browser, with name resolution off: its plots must draw.</summary>
public sealed class BrowserTests(ITestOutputHelper output)
{
    /// <summary>ScottPlot's first line colour (Category10 blue, #1f77b4): the pixels of the plotted lines.</summary>
    private static readonly SKColor LineBlue = new(0x1f, 0x77, 0xb4);

    [BrowserFact]
    public void The_report_renders_its_plots_in_chromium_without_the_network()
    {
        Assert.True(File.Exists(Browser.Chromium), Browser.MissingPrerequisite());
        using var sample = new SampleStatistics();
        string outDir = Path.Combine(sample.Directory, "report");
        var now = new DateTime(2026, 12, 2, 13, 0, 0, DateTimeKind.Utc);
        string index = Program.Run(Options.Parse(["-d", sample.Directory, "-o", outDir, "-n", "sample.example"], now), now);
        string html = File.ReadAllText(index);
        Assert.DoesNotMatch(ReportTests.ExternalReference(), html);
        Assert.DoesNotMatch(new Regex("""<(?:script|link|img|iframe)\b""", RegexOptions.IgnoreCase), html);

        // The page as chromium parsed it: every plot and table in the DOM, and no console message at all (an error in
        // the page, a resource refused or not found would be one).
        var dom = Tool.Run(Browser.Chromium, [.. Headless(sample.Directory), "--enable-logging=stderr", "--log-level=0", "--dump-dom", new Uri(index).AbsoluteUri], TimeSpan.FromSeconds(120));
        Assert.False(dom.TimedOut, "chromium did not finish in 120 s: killed");
        Assert.True(dom.ExitCode == 0, $"chromium exit {dom.ExitCode}\n{dom.Stderr}");
        Assert.Equal(8, Regex.Count(dom.Stdout, "<svg"));
        Assert.Equal(8, Regex.Count(dom.Stdout, "<section class=\"chart\""));
        Assert.DoesNotContain(":CONSOLE", dom.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("ERR_", dom.Stderr, StringComparison.Ordinal);

        string png = Path.Combine(sample.Directory, "screenshot.png");
        Screenshot(index, png, 1280, 4000, sample.Directory);
        using SKBitmap bitmap = SKBitmap.Decode(png) ?? throw new InvalidOperationException("chromium's screenshot does not decode");
        Assert.Equal(1280, bitmap.Width);
        Assert.Equal(4000, bitmap.Height);

        int nonWhite = 0;
        int blue = 0;
        var colours = new HashSet<uint>();
        var bandsWithLines = new HashSet<int>();
        for (int y = 0; y < bitmap.Height; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
            {
                SKColor c = bitmap.GetPixel(x, y);
                colours.Add((uint)c);
                if (c.Red < 245 || c.Green < 245 || c.Blue < 245)
                {
                    nonWhite++;
                }

                if (Math.Abs(c.Red - LineBlue.Red) < 24 && Math.Abs(c.Green - LineBlue.Green) < 24 && Math.Abs(c.Blue - LineBlue.Blue) < 24)
                {
                    blue++;
                    bandsWithLines.Add(y / 250);
                }
            }
        }

        double fraction = (double)nonWhite / (bitmap.Width * bitmap.Height);
        string figure = $"ntpviz: chromium screenshot 1280x4000 of the report: {fraction:P1} non-white pixels, {colours.Count} distinct colours, {blue} pixels of plotted lines in {bandsWithLines.Count} bands of 250 px";
        output.WriteLine(figure);
        Figures.Record(figure);

        // Text, tables and eight plots: a blank or unstyled page has next to no colour and no plotted lines.
        Assert.InRange(fraction, 0.05, 0.9);
        Assert.True(colours.Count > 200, $"only {colours.Count} distinct colours");
        Assert.True(blue > 20_000, $"only {blue} pixels of plotted lines");
        Assert.True(bandsWithLines.Count >= 6, $"plotted lines in only {bandsWithLines.Count} bands of the page");

        // For the documentation: MERIDIAN_NTPVIZ_SCREENSHOT=docs/images/ntpviz.png keeps a smaller shot of the top.
        if (Environment.GetEnvironmentVariable("MERIDIAN_NTPVIZ_SCREENSHOT") is { Length: > 0 } keep)
        {
            Screenshot(index, Path.GetFullPath(keep, Tool.RepoRoot), 1200, 1800, sample.Directory);
        }
    }

    /// <summary>One headless chromium screenshot of a local file; no name resolves, so nothing can be fetched.</summary>
    private static void Screenshot(string index, string png, int width, int height, string scratch)
    {
        var run = Tool.Run(Browser.Chromium,
            [.. Headless(scratch), $"--screenshot={png}", $"--window-size={width},{height}", new Uri(index).AbsoluteUri],
            TimeSpan.FromSeconds(120));
        Assert.False(run.TimedOut, "chromium did not finish in 120 s: killed");
        Assert.True(run.ExitCode == 0 && File.Exists(png), $"chromium exit {run.ExitCode}\n{run.Stderr}");
    }

    /// <summary>Headless, with a profile of its own and no name resolving, so nothing can be fetched.</summary>
    private static string[] Headless(string scratch) =>
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        "--disable-background-networking", "--disable-sync", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
        $"--user-data-dir={Path.Combine(scratch, "chromium-profile-" + Guid.NewGuid().ToString("N"))}",
    ];
}
