using Meridian.Host;
using Meridian.Client;
using Meridian.Client.CommandLine;
using Meridian.Protocol;

namespace Meridian.Client.Tests;

public sealed class FormattingTests
{
    [Theory]
    [InlineData(0.010462, 6, "0.010462")]
    [InlineData(-1.428301, 6, "-1.428301")]
    [InlineData(0.032123, 5, "0.03212")]
    [InlineData(-0.0000001, 6, "0.000000")]
    [InlineData(25.5, 3, "25.500")]
    public void Seconds_print_as_lfptoa_does(double value, int decimals, string expected) =>
        Assert.Equal(expected, ClassicFormat.Seconds(value, decimals));

    [Fact]
    public void Pretty_date_shows_hex_and_local_time_to_the_millisecond()
    {
        NtpTimestamp t = NtpTimestamp.FromDateTime(new DateTime(2022, 10, 8, 10, 54, 6, 694, DateTimeKind.Utc));
        DateTime local = t.ToDateTime().ToLocalTime();
        string expected = $"{t}  {local:ddd}, {local:MMM} {local.Day,2} {local.Year} {local.Hour,2}:{local:mm}:{local:ss}.{local:fff}";
        Assert.Equal(expected, ClassicFormat.PrettyDate(t));
        Assert.StartsWith("e6ebd54e.", ClassicFormat.PrettyDate(t), StringComparison.Ordinal);
    }
}

public sealed class GetOptTests
{
    [Fact]
    public void Bundled_attached_and_separate_arguments()
    {
        var getopt = new GetOpt("46a:bdp:qu", new Dictionary<string, (string, bool)> { ["samples"] = ("p", true), ["ipv4"] = ("4", false) });
        Assert.True(getopt.TryParse(["-qu", "-p4", "-a", "7", "--samples=2", "--ipv4", "server1", "--", "-d"], out var options, out var operands, out _));
        Assert.Equal(
            new[] { ("q", (string?)null), ("u", null), ("p", "4"), ("a", "7"), ("p", "2"), ("4", null) },
            options.Select(o => (o.Name, o.Value)).ToArray());
        Assert.Equal(new[] { "server1", "-d" }, operands);
    }

    [Theory]
    [InlineData("-x", "invalid option -- 'x'")]
    [InlineData("-p", "option requires an argument -- 'p'")]
    [InlineData("--bogus", "unrecognized option '--bogus'")]
    public void Errors_use_getopt_wording(string arg, string expected)
    {
        Assert.False(new GetOpt("p:").TryParse([arg], out _, out _, out string? error));
        Assert.Equal(expected, error);
    }
}
