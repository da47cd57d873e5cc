using Meridian.Tools.Ntpviz;

namespace Meridian.Ntpviz.Tests;

/// <summary>NTPsec ntpviz's command line: defaults, time forms and the period rules.</summary>
public sealed class OptionsTests
{
    private static readonly DateTime Now = new(2026, 12, 2, 13, 30, 0, DateTimeKind.Utc);

    [Fact]
    public void Defaults_are_ntpvizs()
    {
        Options o = Options.Parse([], Now);
        Assert.Equal("/var/log/ntpstats", o.DataDir);
        Assert.Equal("ntpgraphs", o.OutDir);
        Assert.Equal(7, o.PeriodDays);
        Assert.Null(o.Start);
        Assert.Null(o.End);
        DateTime last = new(2026, 12, 1, 23, 0, 0, DateTimeKind.Utc);
        Assert.Equal((last.AddDays(-7), last), o.Period(last));
    }

    [Theory]
    [InlineData("now", "2026-12-02T13:30:00")]
    [InlineData("-1d", "2026-12-01T13:30:00")]
    [InlineData("-24h", "2026-12-01T13:30:00")]
    [InlineData("-90m", "2026-12-02T12:00:00")]
    [InlineData("-30s", "2026-12-02T13:29:30")]
    [InlineData("1764547200", "2025-12-01T00:00:00")]
    [InlineData("2026-11-30", "2026-11-30T00:00:00")]
    [InlineData("2026-11-30T06:15", "2026-11-30T06:15:00")]
    [InlineData("2026-11-30T06:15:42", "2026-11-30T06:15:42")]
    [InlineData("2026-11-30T06:15:42Z", "2026-11-30T06:15:42")]
    [InlineData("2026-11-30T07:15:42+01:00", "2026-11-30T06:15:42")]
    public void Times_are_read_in_utc(string text, string expected)
    {
        DateTime t = Options.ParseTime(text, Now);
        Assert.Equal(DateTimeKind.Utc, t.Kind);
        Assert.Equal(expected, t.ToString("yyyy-MM-ddTHH:mm:ss", System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Long_options_with_values_and_the_period_rules()
    {
        Options o = Options.Parse(["--datadir=/tmp/s", "--outdir", "/tmp/o", "--name", "site", "--period", "0.5", "--endtime", "2026-12-01T12:00:00"], Now);
        Assert.Equal("/tmp/s", o.DataDir);
        Assert.Equal("/tmp/o", o.OutDir);
        Assert.Equal("site", o.Name);
        var end = new DateTime(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc);
        Assert.Equal((end.AddHours(-12), end), o.Period(Now));

        // With both ends the period is ignored, as in NTPsec.
        Options both = Options.Parse(["-p", "3", "-s", "-2d", "-e", "now"], Now);
        Assert.Equal((Now.AddDays(-2), Now), both.Period(Now.AddDays(-5)));
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("-d")]
    [InlineData("-p", "zero")]
    [InlineData("-p", "-1")]
    [InlineData("-s", "yesterday")]
    [InlineData("-s", "now", "-e", "-1h")]
    public void Bad_command_lines_are_refused(params string[] args) => Assert.Throws<UsageException>(() => Options.Parse(args, Now));
}
