using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ScottPlot;

namespace Meridian.Tools.Ntpviz;

/// <summary>What a plotted quantity is measured in: seconds shown in s/ms/µs as their size asks, or ppm.</summary>
public enum Quantity
{
    Seconds,
    Ppm,
}

/// <summary>One line of a plot and one row of its summary table.</summary>
public sealed record Series(string Name, IReadOnlyList<DateTime> Times, IReadOnlyList<double> Values);

/// <summary>One plot of the report with its summary table; <see cref="Id"/> names the section and table in the HTML.</summary>
public sealed record Section(string Id, string Title, string Description, string Axis, Quantity Quantity, IReadOnlyList<Series> Series);

/// <summary>
/// Builds the report: one HTML page with every plot inline as ScottPlot's SVG, so it opens from disk with no network,
/// and under each plot the summary table NTPsec's ntpviz shows. Table cells carry the exact value in SI units
/// (seconds or ppm) in <c>data-value</c>, so scripts and tests read numbers rather than rounded text.
/// </summary>
public static partial class Report
{
    private const int PlotWidth = 1100;
    private const int PlotHeight = 340;

    /// <summary>The sections the statistics give, in ntpviz's order: local clock first, then peers, then reference clocks.</summary>
    public static List<Section> Sections(StatisticsSet set)
    {
        List<DateTime> loopTimes = [.. set.Loop.Select(l => l.Time)];
        Series Loop(string name, Func<LoopSample, double> pick) => new(name, loopTimes, [.. set.Loop.Select(pick)]);
        List<Series> PerPeer(bool refclocks, Func<PeerSample, double> pick) =>
            [.. set.Peers.Where(p => p.IsRefclock == refclocks).GroupBy(p => p.Address).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => new Series(g.Key, [.. g.Select(p => p.Time)], [.. g.Select(pick)]))];

        return
        [
            new("local-offset", "Local clock time offset", "The offset of the local clock from its sources after each clock update (loopstats); the closer to zero the better.", "offset", Quantity.Seconds, [Loop("local clock offset", l => l.Offset)]),
            new("local-freq", "Local clock frequency offset", "The frequency correction the daemon applies to the local oscillator (loopstats); it follows temperature and ageing.", "frequency offset", Quantity.Ppm, [Loop("frequency offset", l => l.FrequencyPpm)]),
            new("local-jitter", "Local clock time jitter", "The RMS of the differences between recent clock offsets (loopstats): short-term noise of the time.", "jitter", Quantity.Seconds, [Loop("clock jitter", l => l.Jitter)]),
            new("local-wander", "Local clock frequency wander", "The RMS of the differences between recent frequency corrections (loopstats): short-term stability of the oscillator.", "wander", Quantity.Ppm, [Loop("frequency wander", l => l.WanderPpm)]),
            new("peer-offsets", "Peer offsets", "Each peer's offset from the local clock (peerstats), one line per peer.", "offset", Quantity.Seconds, PerPeer(false, p => p.Offset)),
            new("peer-delays", "Peer delays", "Each peer's round-trip delay (peerstats); asymmetry in it limits how well the offset can be known.", "delay", Quantity.Seconds, PerPeer(false, p => p.Delay)),
            new("peer-jitters", "Peer jitters", "Each peer's jitter (peerstats): the RMS of the differences between its recent offsets.", "jitter", Quantity.Seconds, PerPeer(false, p => p.Jitter)),
            new("refclock-offsets", "Reference clock offsets", "The offsets of the reference clocks (the 127.127.t.u peers of peerstats) from the local clock.", "offset", Quantity.Seconds, PerPeer(true, p => p.Offset)),
        ];
    }

    /// <summary>The whole page.</summary>
    public static string Html(StatisticsSet set, string name, DateTime start, DateTime end, DateTime generated)
    {
        var html = new StringBuilder(1 << 20);
        string title = $"{name} NTP statistics";
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>").Append(Encode(title)).Append("</title>\n<style>\n")
            .Append("body{font-family:'DejaVu Sans',Arial,sans-serif;margin:1.5em;color:#222;background:#fff}\n")
            .Append("h1{margin-bottom:.2em}section{margin:1.5em 0 2.5em}p.what{margin:.2em 0 .6em;color:#444}\n")
            .Append("table{border-collapse:collapse;font-size:.9em}th,td{border:1px solid #bbb;padding:.2em .5em;text-align:right}\n")
            .Append("th{background:#eef}td.name,td.timecode{text-align:left;font-family:monospace}.plot svg{max-width:100%;height:auto}\n")
            .Append("</style>\n</head>\n<body>\n");
        html.Append("<h1>").Append(Encode(title)).Append("</h1>\n<p class=\"period\">From <span id=\"start\">").Append(Iso(start))
            .Append("</span> to <span id=\"end\">").Append(Iso(end)).Append("</span>; ")
            .Append(CultureInfo.InvariantCulture, $"<span id=\"loop-count\">{set.Loop.Count}</span> loopstats, <span id=\"peer-count\">{set.Peers.Count}</span> peerstats and <span id=\"clock-count\">{set.Clocks.Count}</span> clockstats records from {set.Files.Count} files; generated {Iso(generated)} by Meridian's ntpviz.</p>\n");

        foreach (Section section in Sections(set))
        {
            AppendSection(html, section);
        }

        AppendClockstats(html, set.Clocks);
        html.Append("<p class=\"notes\">Percentiles are logged samples, the one at index ⌊p·N/100⌋ of the N sorted, as NTPsec's ntpviz takes them; 90% range is the 95th less the 5th percentile, 98% range the 99th less the 1st; the standard deviation is the population one. Times are UTC.</p>\n");
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static void AppendSection(StringBuilder html, Section section)
    {
        html.Append("<section class=\"chart\" id=\"").Append(section.Id).Append("\">\n<h2>").Append(Encode(section.Title)).Append("</h2>\n<p class=\"what\">")
            .Append(Encode(section.Description)).Append("</p>\n");
        List<Series> series = [.. section.Series.Where(s => s.Values.Count > 0)];
        if (series.Count == 0)
        {
            html.Append("<p class=\"nodata\">No records in this period.</p>\n</section>\n");
            return;
        }

        (string unit, double scale) = UnitFor(section.Quantity, series.SelectMany(s => s.Values));
        html.Append("<div class=\"plot\">").Append(Svg(section.Id, series, $"{section.Axis} ({unit})", scale)).Append("</div>\n");
        html.Append("<table class=\"summary\" id=\"summary-").Append(section.Id).Append("\">\n<tr><th>series</th><th>count</th><th>1%</th><th>5%</th><th>50%</th><th>95%</th><th>99%</th>")
            .Append("<th>90% range</th><th>98% range</th><th>mean</th><th>std dev</th><th>min</th><th>max</th><th>units</th></tr>\n");
        foreach (Series s in series)
        {
            Summary stats = Summary.Of([.. s.Values])!.Value;
            string format = Format(Math.Max(Math.Abs(stats.P1), Math.Abs(stats.P99)) * scale);
            html.Append("<tr class=\"series\" data-series=\"").Append(Encode(s.Name)).Append("\"><td class=\"name\">").Append(Encode(s.Name)).Append("</td>")
                .Append(CultureInfo.InvariantCulture, $"<td class=\"count\" data-value=\"{stats.Count}\">{stats.Count}</td>");
            foreach ((string cls, double value) in new[]
                     {
                         ("p1", stats.P1), ("p5", stats.P5), ("p50", stats.P50), ("p95", stats.P95), ("p99", stats.P99), ("range90", stats.Range90),
                         ("range98", stats.Range98), ("mean", stats.Mean), ("stddev", stats.StdDev), ("min", stats.Min), ("max", stats.Max),
                     })
            {
                html.Append("<td class=\"").Append(cls).Append("\" data-value=\"").Append(value.ToString("R", CultureInfo.InvariantCulture)).Append("\">")
                    .Append((value * scale).ToString(format, CultureInfo.InvariantCulture)).Append("</td>");
            }

            html.Append("<td class=\"unit\">").Append(Encode(unit)).Append("</td></tr>\n");
        }

        html.Append("</table>\n</section>\n");
    }

    private static void AppendClockstats(StringBuilder html, List<ClockSample> clocks)
    {
        html.Append("<section class=\"clockstats\" id=\"clockstats\">\n<h2>Reference clock timecodes</h2>\n<p class=\"what\">The timecodes the reference clock drivers logged (clockstats): how many, and the last one.</p>\n");
        if (clocks.Count == 0)
        {
            html.Append("<p class=\"nodata\">No records in this period.</p>\n</section>\n");
            return;
        }

        html.Append("<table id=\"clockstats-table\">\n<tr><th>clock</th><th>count</th><th>first</th><th>last</th><th>last timecode</th></tr>\n");
        foreach (IGrouping<string, ClockSample> clock in clocks.GroupBy(c => c.Address).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            ClockSample last = clock.Last();
            html.Append("<tr data-series=\"").Append(Encode(clock.Key)).Append("\"><td class=\"name\">").Append(Encode(clock.Key)).Append("</td>")
                .Append(CultureInfo.InvariantCulture, $"<td class=\"count\">{clock.Count()}</td><td>{Iso(clock.First().Time)}</td><td>{Iso(last.Time)}</td>")
                .Append("<td class=\"timecode\">").Append(Encode(last.Timecode)).Append("</td></tr>\n");
        }

        html.Append("</table>\n</section>\n");
    }

    /// <summary>
    /// The unit a table and axis use: seconds scaled so that the central 98% reads in whole-ish numbers (µs for a
    /// good LAN, ms across the Internet), ppm as logged.
    /// </summary>
    public static (string Unit, double Scale) UnitFor(Quantity quantity, IEnumerable<double> values)
    {
        if (quantity == Quantity.Ppm)
        {
            return ("ppm", 1);
        }

        double[] sorted = [.. values];
        Array.Sort(sorted);
        double size = sorted.Length == 0 ? 0 : Math.Max(Math.Abs(Summary.Percentile(sorted, 1)), Math.Abs(Summary.Percentile(sorted, 99)));
        return size switch
        {
            < 1e-3 => ("µs", 1e6),
            < 1 => ("ms", 1e3),
            _ => ("s", 1),
        };
    }

    /// <summary>At least three decimals, and enough for three significant digits of a small figure (a wander of 0.00234 ppm).</summary>
    public static string Format(double magnitude)
    {
        int decimals = magnitude > 0 ? Math.Clamp(2 - (int)Math.Floor(Math.Log10(magnitude)), 3, 9) : 3;
        return "0." + new string('0', decimals);
    }

    /// <summary>The plot as inline SVG (no XML declaration, which is not allowed inside HTML).</summary>
    private static string Svg(string prefix, List<Series> series, string label, double scale)
    {
        var plot = new Plot();
        plot.Font.Set("DejaVu Sans");
        foreach (Series s in series)
        {
            double[] xs = [.. s.Times.Select(t => t.ToOADate())];
            double[] ys = [.. s.Values.Select(v => v * scale)];
            var line = plot.Add.SignalXY(xs, ys);
            line.LineWidth = 1.5f;
            line.MarkerSize = s.Values.Count <= 300 ? 4 : 0;
            if (series.Count > 1)
            {
                line.LegendText = s.Name;
            }
        }

        // ISO dates on the time axis, not the US month-first default.
        var axis = plot.Axes.DateTimeTicksBottom();
        if (axis.TickGenerator is ScottPlot.TickGenerators.DateTimeAutomatic ticks)
        {
            ticks.LabelFormatter = t => t.ToString(t.TimeOfDay == TimeSpan.Zero ? "yyyy-MM-dd" : "yyyy-MM-dd\nHH:mm", CultureInfo.InvariantCulture);
        }

        plot.Axes.Left.Label.Text = label;
        plot.Axes.Bottom.Label.Text = "time (UTC)";
        if (series.Count > 1)
        {
            plot.ShowLegend(Alignment.UpperRight);
        }

        string svg = plot.GetSvgXml(PlotWidth, PlotHeight);
        int open = svg.IndexOf("<svg", StringComparison.Ordinal);
        svg = open > 0 ? svg[open..] : svg;

        // Skia numbers its clip paths from 1 in every SVG; inline in one page they would clip each other's plots.
        return LocalId().Replace(svg, m => m.Value[..(m.Groups[1].Index - m.Index)] + prefix + "-" + m.Groups[1].Value);
    }

    [GeneratedRegex(@"(?:\bid=""|url\(#|href=""#)([A-Za-z_][\w.-]*)")]
    private static partial Regex LocalId();

    private static string Iso(DateTime t) => t.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>Escapes markup only: the page is UTF-8, so µ stays µ rather than becoming an entity.</summary>
    private static string Encode(string s) =>
        s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal)
            .Replace("\"", "&quot;", StringComparison.Ordinal).Replace("'", "&#39;", StringComparison.Ordinal);
}
