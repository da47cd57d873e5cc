using Meridian.Client;
using Meridian.Protocol;

namespace Meridian.Client.Tests;

/// <summary>Golden output of ntpq's formatters (layouts of ntpd 4.2.8's ntpq).</summary>
public sealed class ControlFormatTests
{
    private static readonly NtpTimestamp Now = new(0xeead0100, 0);

    [Fact]
    public void The_billboard_header_is_78_columns()
    {
        Assert.Equal("     remote           refid      st t when poll reach   delay   offset  jitter", ControlFormat.PeersHeader);
        Assert.Equal(78, ControlFormat.PeersRule.Length);
    }

    [Fact]
    public void A_server_row()
    {
        var v = new Dictionary<string, string>
        {
            ["srcadr"] = "192.168.11.240", ["refid"] = "127.127.1.1", ["stratum"] = "11", ["hmode"] = "3", ["hpoll"] = "4", ["ppoll"] = "3",
            ["rec"] = "0xeead00fc.00000000", ["reach"] = "0xfe", ["delay"] = "41.552", ["offset"] = "-3.044", ["jitter"] = "0.289",
        };
        Assert.Equal("*192.168.11.240  127.127.1.1     11 u    4    8  376   41.552   -3.044   0.289", ControlFormat.PeerLine('*', v, Now));
    }

    [Theory]
    // seed 000's client: its server heard on 224.0.1.1, the local clock as the server's refid.
    [InlineData("192.168.11.240", "6", "224.0.1.1", "*192.168.11.240  LOCAL(1)        11 m    4    8  376   41.552   -3.044   0.289")]
    // seed 004's client: a broadcast to the subnet.
    [InlineData("10.0.246.2", "6", "10.0.246.255", "*10.0.246.2      LOCAL(1)        11 b    4    8  376   41.552   -3.044   0.289")]
    // The server's own broadcast and multicast rows, and a manycast client's request to its group.
    [InlineData("10.0.246.255", "5", "10.0.246.2", "*10.0.246.255    LOCAL(1)        11 B    4    8  376   41.552   -3.044   0.289")]
    [InlineData("224.0.1.1", "5", "192.168.11.240", "*224.0.1.1       LOCAL(1)        11 M    4    8  376   41.552   -3.044   0.289")]
    [InlineData("239.1.1.1", "3", "198.18.0.2", "*239.1.1.1       LOCAL(1)        11 a    4    8  376   41.552   -3.044   0.289")]
    public void Broadcast_multicast_and_manycast_rows_carry_their_letter(string srcadr, string hmode, string dstadr, string row)
    {
        var v = new Dictionary<string, string>
        {
            ["srcadr"] = srcadr, ["dstadr"] = dstadr, ["refid"] = "127.127.1.1", ["stratum"] = "11", ["hmode"] = hmode, ["hpoll"] = "4", ["ppoll"] = "3",
            ["rec"] = "0xeead00fc.00000000", ["reach"] = "0xfe", ["delay"] = "41.552", ["offset"] = "-3.044", ["jitter"] = "0.289",
        };
        Assert.Equal(row, ControlFormat.PeerLine('*', v, Now, address => address.ToString()));
    }

    [Theory]
    // NTPsec's ntpq: an NTS association's cookies in place of 'u'; -1 (no keys) and a plain server keep 'u'.
    [InlineData("8", "*198.18.0.1      198.18.1.1       3 8    4    8  376   41.552   -3.044   0.289")]
    [InlineData("0", "*198.18.0.1      198.18.1.1       3 0    4    8  376   41.552   -3.044   0.289")]
    [InlineData("-1", "*198.18.0.1      198.18.1.1       3 u    4    8  376   41.552   -3.044   0.289")]
    [InlineData(null, "*198.18.0.1      198.18.1.1       3 u    4    8  376   41.552   -3.044   0.289")]
    public void An_nts_server_row_shows_its_cookie_count_in_the_t_column(string? cookies, string row)
    {
        var v = new Dictionary<string, string>
        {
            ["srcadr"] = "198.18.0.1", ["refid"] = "198.18.1.1", ["stratum"] = "3", ["hmode"] = "3", ["hpoll"] = "4", ["ppoll"] = "3",
            ["rec"] = "0xeead00fc.00000000", ["reach"] = "0xfe", ["delay"] = "41.552", ["offset"] = "-3.044", ["jitter"] = "0.289",
        };
        if (cookies is not null)
        {
            v["ntscookies"] = cookies;
        }

        Assert.Equal(row, ControlFormat.PeerLine('*', v, Now));
    }

    [Fact]
    public void Readvar_of_an_nts_association_lists_its_nts_variables_as_sent()
    {
        var variables = new List<KeyValuePair<string, string?>>
        {
            new("ntscookies", "8"), new("ntsaead", "15"), new("ntskeserver", "\"ntp.test\""), new("ntsnaks", "0"),
            new("ntskegood", "1"), new("ntskebad", "2"), new("ntskefail", "\"NameMismatch: the certificate is not for other.test\""),
        };
        Assert.Equal(
            "ntscookies=8, ntsaead=15, ntskeserver=\"ntp.test\", ntsnaks=0, ntskegood=1,\nntskebad=2,\nntskefail=\"NameMismatch: the certificate is not for other.test\"\n",
            ControlFormat.Variables(variables, raw: false));
    }

    [Fact]
    public void Ntsinfo_has_ntpsecs_layout()
    {
        var values = new Dictionary<string, string> { ["nts_client_send"] = "12", ["nts_cookie_decode_too_old"] = "3" };
        Assert.Equal(
            "NTS client sends:                      12\nNTS decode cookies too old:             3\n",
            ControlFormat.NtpsecLabelled([("nts_client_send", "NTS client sends:          "), ("nts_missing", "never:"), ("nts_cookie_decode_too_old", "NTS decode cookies too old:")], values));
    }

    [Fact]
    public void A_reference_clock_row_with_names_and_a_long_interval()
    {
        var v = new Dictionary<string, string>
        {
            ["srcadr"] = "127.127.20.0", ["refid"] = "GPS", ["stratum"] = "0", ["hmode"] = "3", ["hpoll"] = "6", ["ppoll"] = "6",
            ["rec"] = "0xeeacf000.00000000", ["reach"] = "0xff", ["delay"] = "0", ["offset"] = "-726.44", ["jitter"] = "6.518",
        };
        Assert.Equal("oGPS_NMEA(0)     .GPS.            0 l  73m   64  377    0.000 -726.440   6.518", ControlFormat.PeerLine('o', v, Now, _ => "unused"));
        Assert.Equal("73m", ControlFormat.Interval(4352));
        Assert.Equal("2048", ControlFormat.Interval(2048));
        Assert.Equal("6h", ControlFormat.Interval(6 * 3600 + 1200));
        Assert.Equal("5d", ControlFormat.Interval(5 * 86400));
        Assert.Equal("-", ControlFormat.Interval(0));
    }

    [Fact]
    public void The_associations_table()
    {
        Assert.Equal("ind assid status  conf reach auth condition  last_event cnt", ControlFormat.AssociationsHeader);
        Assert.Equal("  1 17767  b61a   yes   yes  none  sys.peer    sys_peer  1", ControlFormat.AssociationLine(1, 17767, 0x961a | 0x2000));
        Assert.Equal("  2    12  1414    no   yes  none candidate   reachable  1", ControlFormat.AssociationLine(2, 12, 0x1414));
    }

    [Fact]
    public void Readvar_status_lines()
    {
        Assert.Equal("associd=0 status=0615 leap_none, sync_ntp, 1 event, clock_sync,", ControlFormat.StatusLine(0, 0x0615, raw: false));
        Assert.Equal("associd=1 status=961a conf, reach, sel_sys.peer, 1 event, sys_peer,", ControlFormat.StatusLine(1, 0x961a, raw: false));
        Assert.Equal("associd=0 status=0x0615,", ControlFormat.StatusLine(0, 0x0615, raw: true));
    }

    [Fact]
    public void Readvar_values_are_cooked_and_wrapped_at_72_columns()
    {
        var variables = new List<KeyValuePair<string, string?>>
        {
            new("srcadr", "192.168.1.1"), new("srcport", "123"), new("dstadr", "192.168.1.2"), new("dstport", "123"),
            new("leap", "0"), new("stratum", "2"), new("reach", "0xff"), new("flash", "0x0"),
            new("filtdelay", "0.32 0.35 0.33"),
        };
        string text = ControlFormat.Variables(variables, raw: false);
        Assert.Equal(
            "srcadr=192.168.1.1, srcport=123, dstadr=192.168.1.2, dstport=123,\n"
            + "leap=00, stratum=2, reach=377, flash=00 ok,\n"
            + "filtdelay=     0.32    0.35    0.33\n",
            text);
        Assert.Contains("reach=0xff", ControlFormat.Variables(variables, raw: true), StringComparison.Ordinal);
        Assert.StartsWith("eead0100.00000000  ", ControlFormat.Cook("reftime", "0xeead0100.00000000"), StringComparison.Ordinal);
    }

    [Fact]
    public void An_mrulist_row()
    {
        var entry = new Dictionary<string, string> { ["addr"] = "198.18.0.2:40123", ["last"] = "0xeead00f6.00000000", ["first"] = "0xeead0000.00000000", ["ct"] = "3", ["mv"] = "35", ["rs"] = "0x0" };
        Assert.Equal("    10     82    0 . 3 4      3 40123 198.18.0.2", ControlFormat.MruLine(entry, Now));
    }
}
