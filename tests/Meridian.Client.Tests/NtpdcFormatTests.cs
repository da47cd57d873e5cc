using Meridian.Client;

namespace Meridian.Client.Tests;

/// <summary>Golden output of ntpdc's formatters (layouts of ntpd 4.2.8's ntpdc, times in seconds) and of ntpq's labelled displays.</summary>
public sealed class NtpdcFormatTests
{
    private static readonly Dictionary<string, string> Server = new()
    {
        ["srcadr"] = "10.0.246.16", ["dstadr"] = "10.0.246.7", ["stratum"] = "2", ["hmode"] = "3", ["pmode"] = "4", ["hpoll"] = "6",
        ["ppoll"] = "6", ["reach"] = "0xfe", ["delay"] = "81.1", ["offset"] = "-1.003", ["dispersion"] = "12.4", ["leap"] = "0",
        ["refid"] = "16.1.0.22", ["precision"] = "-20", ["rootdelay"] = "30.5", ["rootdisp"] = "7.25", ["keyid"] = "0",
        ["version"] = "4", ["unreach"] = "0", ["flash"] = "0x0", ["timer"] = "53", ["jitter"] = "0.5",
        ["reftime"] = "0x00000000.00000000", ["org"] = "0x00000000.00000000", ["rec"] = "0x00000000.00000000", ["xmt"] = "0x00000000.00000000",
        ["filtdelay"] = "81.10 80.00 0.00 0.00 0.00 0.00 0.00 0.00", ["filtoffset"] = "-1.00 -2.50 0.00 0.00 0.00 0.00 0.00 0.00",
    };

    [Fact]
    public void Peers_rows_carry_the_mode_character_and_seconds()
    {
        Assert.Equal(71, NtpdcFormat.PeersRule.Length);
        Assert.Equal("*10.0.246.16     10.0.246.7       2   64  376 0.08110 -0.001003 0.01240", NtpdcFormat.PeerLine(true, Server));
        var peer = new Dictionary<string, string>(Server) { ["hmode"] = "1", ["srcadr"] = "10.0.246.11", ["reach"] = "0x1f", ["offset"] = "30.001" };
        Assert.Equal("+10.0.246.11     10.0.246.7       2   64   37 0.08110  0.030001 0.01240", NtpdcFormat.PeerLine(false, peer));
        Assert.Equal(['=', '-', '^', '~', ' '], new[] { 3, 2, 5, 6, 4 }.Select(m => NtpdcFormat.ModeCharacter(false, m)));
        Assert.Equal("client    10.0.246.16", NtpdcFormat.ListPeerLine(Server));
        Assert.Equal("sym_active 10.0.246.11", NtpdcFormat.ListPeerLine(peer));
    }

    [Fact]
    public void Showpeer_prints_the_long_form()
    {
        string[] lines = NtpdcFormat.ShowPeer(3, true, Server).Split('\n');
        Assert.Equal("remote 10.0.246.16, local 10.0.246.7", lines[0]);
        Assert.Equal("hmode client, pmode server, stratum 2, precision -20", lines[1]);
        Assert.Equal("leap 00, refid [16.1.0.22], rootdistance 0.03050, rootdispersion 0.00725", lines[2]);
        Assert.Equal("ppoll 6, hpoll 6, keyid 0, version 4, association 3", lines[3]);
        Assert.Equal("reach 376, unreach 0, flash 0x0000, boffset 0.00000, ttl/mode 0", lines[4]);
        Assert.Equal("timer 53s, flags config, system_peer", lines[5]);
        Assert.StartsWith("reference time:      00000000.00000000  ", lines[6], StringComparison.Ordinal);
        Assert.Equal("filter delay:  0.08110  0.08000  0.00000  0.00000 ", lines[10]);
        Assert.Equal("filter offset: -0.00100 -0.00250 0.000000 0.000000", lines[12]);
        Assert.Equal("filter order:  0        1        2        3       ", lines[14]);
        Assert.Equal("offset -0.001003, delay 0.08110, error bound 0.01240, filter error 0.00050", lines[16]);
    }

    [Fact]
    public void Sysinfo_sysstats_loopinfo_and_iostats_use_ntpdc_labels()
    {
        var v = new Dictionary<string, string>
        {
            ["leap"] = "0", ["stratum"] = "3", ["precision"] = "-23", ["rootdelay"] = "12.5", ["rootdisp"] = "3.75", ["refid"] = "10.0.246.16",
            ["reftime"] = "0x00000000.00000000", ["sys_flags"] = "\"auth monitor ntp kernel\"", ["sys_jitter"] = "0.25", ["clk_wander"] = "0.012",
            ["bcastdelay"] = "4.000", ["authdelay"] = "0.000", ["offset"] = "-0.5", ["frequency"] = "-12.3456", ["tc"] = "7", ["watchdog"] = "44",
            ["ss_uptime"] = "100", ["ss_received"] = "7", ["ss_limited"] = "2", ["io_sendfailed"] = "1",
        };
        string info = NtpdcFormat.SystemInfo(v, "10.0.246.16", 3);
        Assert.StartsWith("system peer:          10.0.246.16\nsystem peer mode:     client\nleap indicator:       00\nstratum:              3\n", info, StringComparison.Ordinal);
        Assert.Contains("root distance:        0.01250 s\nroot dispersion:      0.00375 s\nreference ID:         [10.0.246.16]\n", info, StringComparison.Ordinal);
        Assert.Contains("system flags:         auth monitor ntp kernel \njitter:               0.000250 s\nstability:            0.012 ppm\nbroadcastdelay:       0.004000 s\n", info, StringComparison.Ordinal);

        string stats = NtpdcFormat.SystemStatistics(v);
        Assert.StartsWith("time since restart:     100\ntime since reset:       0\npackets received:       7\n", stats, StringComparison.Ordinal);
        Assert.EndsWith("rate exceeded:          2\n", stats, StringComparison.Ordinal);
        Assert.Equal("offset:               -0.000500 s\nfrequency:            -12.346 ppm\ntime constant:        7\nwatchdog timer:       44 s\n", NtpdcFormat.LoopInfo(v));
        Assert.Contains("packets not sent:     1\n", NtpdcFormat.IoStatistics(v), StringComparison.Ordinal);
    }

    [Fact]
    public void Kerninfo_prints_seconds_like_printf_g()
    {
        var v = new Dictionary<string, string> { ["koffset"] = "0.123", ["kfreq"] = "-12.5", ["kmaxerr"] = "16000", ["kesterr"] = "0.002", ["kstflags"] = "pll nano", ["ktimeconst"] = "7", ["kprecis"] = "0.000001", ["kfreqtol"] = "500" };
        Assert.Equal(
            "pll offset:           0.000123 s\npll frequency:        -12.500 ppm\nmaximum error:        16 s\nestimated error:      2e-06 s\nstatus:               pll nano\npll time constant:    7\nprecision:            1e-09 s\nfrequency tolerance:  500 ppm\n",
            NtpdcFormat.KernelInfo(v));
    }

    [Theory]
    [InlineData(new[] { "198.18.0.9" }, "server 198.18.0.9")]
    [InlineData(new[] { "198.18.0.9", "7", "3", "prefer", "iburst" }, "server 198.18.0.9 key 7 version 3 prefer iburst")]
    [InlineData(new[] { "198.18.0.9", "0", "4", "minpoll", "4" }, "server 198.18.0.9 version 4 minpoll 4")]
    public void Addserver_arguments_become_an_ntp_conf_line(string[] args, string line) =>
        Assert.Equal(line, NtpdcFormat.AssociationLine("server", args));

    [Fact]
    public void Ntpq_labelled_displays_and_the_clock_status_line()
    {
        var values = new Dictionary<string, string> { ["ss_uptime"] = "12", ["ss_badauth"] = "0" };
        Assert.Equal("uptime:                 12\nauthentication failed:  0\n", ControlFormat.Labelled([("ss_uptime", "uptime:"), ("ss_missing", "never:"), ("ss_badauth", "authentication failed:")], values));
        Assert.Equal("associd=4 status=0101 clk_no_reply, last_clk_no_reply,", ControlFormat.ClockStatusLine(4, 0x0101, raw: false));
        Assert.Equal("associd=4 status=0x0000,", ControlFormat.ClockStatusLine(4, 0, raw: true));
    }
}
