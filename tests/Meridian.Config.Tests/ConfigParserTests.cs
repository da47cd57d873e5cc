using System.Net;
using Meridian.Config;

namespace Meridian.Config.Tests;

public sealed class ConfigParserTests
{
    [Fact]
    public void Local_clock_server_with_fudge_and_disable_ntp()
    {
        NtpConfiguration c = ConfigParser.Parse("""
            # serve the local clock
            server 127.127.1.0
            fudge  127.127.1.0 stratum 10
            disable ntp
            interface listen 127.0.0.1
            driftfile /var/lib/ntp/ntp.drift
            """, "ntp.conf");

        Assert.Empty(c.Diagnostics);
        AssociationConfig server = Assert.Single(c.Associations);
        Assert.Equal(new RefclockAddress(1, 0), server.Refclock);
        Assert.Equal(10, c.Fudges[new RefclockAddress(1, 0)].Stratum);
        Assert.False(c.ClockControl);
        InterfaceRule rule = Assert.Single(c.InterfaceRules);
        Assert.Equal((InterfaceAction.Listen, IPAddress.Loopback, 32), (rule.Action, rule.Address, rule.PrefixLength));
        Assert.Equal("/var/lib/ntp/ntp.drift", c.DriftFile);
    }

    [Fact]
    public void Association_options_are_read()
    {
        NtpConfiguration c = ConfigParser.Parse("server 10.48.3.182 minpoll 4 maxpoll 4 prefer iburst version 3 key 42\npool -4 pool.example.org\npeer 10.0.246.11 noselect", "ntp.conf");
        Assert.Empty(c.Diagnostics);
        AssociationConfig a = c.Associations[0];
        Assert.Equal((AssociationKind.Server, "10.48.3.182", 4, 4, true, true, 3, 42u), (a.Kind, a.Address, a.MinPoll, a.MaxPoll, a.Prefer, a.Iburst, a.Version, a.Key));
        Assert.Null(a.Refclock);
        Assert.Equal((AssociationKind.Pool, "pool.example.org"), (c.Associations[1].Kind, c.Associations[1].Address));
        Assert.True(c.Associations[2].NoSelect);
    }

    [Fact]
    public void A_stray_comma_after_a_number_is_read_with_a_warning()
    {
        NtpConfiguration c = ConfigParser.Parse("broadcast 224.0.1.1\nserver 192.0.2.1 minpoll 3, maxpoll 4", "ntp.conf");
        Assert.False(c.HasErrors);
        Assert.Equal(3, c.Associations[0].MinPoll);
        ConfigDiagnostic warning = Assert.Single(c.Diagnostics, d => !d.NotInEffect);
        Assert.Equal("ntp.conf:2:26: warning: stray ',' after 'minpoll 3'; read as 3", warning.ToString());
    }

    [Fact]
    public void Fudge_on_an_ordinary_address_is_ignored_with_a_warning()
    {
        NtpConfiguration c = ConfigParser.Parse("server  192.168.2.193 # local clock\nfudge   192.168.2.193 stratum 10", "ntp.conf");
        Assert.False(c.HasErrors);
        Assert.Empty(c.Fudges);
        Assert.Contains("not a reference clock address", Assert.Single(c.Diagnostics).Message);
    }

    [Theory]
    [InlineData("server 192.0.2.1 iburts", "ntp.conf:1:18: error: unknown option 'iburts' (did you mean 'iburst'?)")]
    [InlineData("server 192.0.2.1 minpoll 99", "ntp.conf:1:26: error: 'minpoll' is 3 to 17, not 99")]
    [InlineData("server 192.0.2.1 maxpoll", "ntp.conf:1:26: error: 'maxpoll' needs a number from 3 to 17")]
    [InlineData("server", "ntp.conf:1:8: error: expected an address or host name")]
    [InlineData("fudge 127.127.1.0 stratum x", "ntp.conf:1:27: error: 'stratum' needs a number from 0 to 15, not 'x'")]
    [InlineData("disable nttp", "ntp.conf:1:9: error: unknown system flag 'nttp' (did you mean 'ntp'?)")]
    [InlineData("interface listne eth0", "ntp.conf:1:11: error: expected listen, ignore or drop, not 'listne'")]
    [InlineData("servre 192.0.2.1", "ntp.conf:1:1: warning: unknown directive 'servre' (did you mean 'server'?); the line is ignored")]
    [InlineData("tos orphn 5", "ntp.conf:1:5: error: unknown tos option 'orphn' (did you mean 'orphan'?)")]
    [InlineData("tos orphan 17", "ntp.conf:1:5: error: tos orphan is 1 to 16, not 17")]
    [InlineData("multicastclient 10.0.246.255", "ntp.conf:1:17: error: multicastclient: '10.0.246.255' is not a multicast group (224.0.0.0/4 or ff00::/8; 224.0.1.1 is NTP's)")]
    [InlineData("manycastclient 198.18.0.255", "ntp.conf:1:16: error: manycastclient: '198.18.0.255' is not a multicast group (224.0.0.0/4 or ff00::/8; 224.0.1.1 is NTP's)")]
    [InlineData("tinker panic", "ntp.conf:1:14: error: 'panic' needs a number")]
    [InlineData("restrict default nomodfiy", "ntp.conf:1:18: error: unknown restrict flag 'nomodfiy' (did you mean 'nomodify'?)")]
    [InlineData("restrict 10.0.0.0 mask ffff::", "ntp.conf:1:24: error: 'ffff::' is not a mask of the address's family")]
    [InlineData("restrict 10.0.0.0/33 nomodify", "ntp.conf:1:10: error: '10.0.0.0/33': the prefix length after '/' is 0 to 32")]
    [InlineData("restrict -6 10.0.0.1", "ntp.conf:1:13: error: '10.0.0.1' is not an IPv6 address, as the -4/-6 before it says")]
    [InlineData("restrict default mask 255.0.0.0", "ntp.conf:1:23: error: 'mask' applies to an address, not to 'default'")]
    [InlineData("trustedkey 4 x", "ntp.conf:1:14: error: trustedkey takes key IDs from 1 to 65535 and ranges '( a ... b )', not 'x'")]
    [InlineData("trustedkey ( 9 ... 3 )", "ntp.conf:1:12: error: a key range is written '( first ... last )' with first ≤ last")]
    [InlineData("statistics loopstat", "ntp.conf:1:12: error: unknown statistics file 'loopstat' (did you mean 'loopstats'?)")]
    [InlineData("filegen peerstats type hourly", "ntp.conf:1:24: error: filegen type is none, pid, day, week, month, year or age, not 'hourly'")]
    [InlineData("broadcast 10.0.0.255 ttll 2", "ntp.conf:1:22: error: unknown option 'ttll' (did you mean 'ttl'?)")]
    [InlineData("broadcastclient maybe", "ntp.conf:1:17: error: expected novolley or nothing after broadcastclient, not 'maybe'")]
    [InlineData("refclock nmaa unit 0", "ntp.conf:1:10: error: unknown refclock driver 'nmaa' (did you mean 'nmea'?)")]
    [InlineData("requestkey 70000", "ntp.conf:1:12: error: 'requestkey' is 1 to 65535, not 70000")]
    [InlineData("precision 3", "ntp.conf:1:11: error: 'precision' is -30 to 0, not 3")]
    [InlineData("slewalways maybe", "ntp.conf:1:12: error: slewalways takes yes or no, not 'maybe'")]
    public void Problems_are_reported_with_file_line_and_column(string line, string expected)
    {
        NtpConfiguration c = ConfigParser.Parse("# first line\n" + line, "ntp.conf");
        // A directive not in effect yet draws its own warning too; the problem is the one other diagnostic.
        Assert.Equal(expected.Replace(":1:", ":2:", StringComparison.Ordinal), Assert.Single(c.Diagnostics, d => !d.NotInEffect).ToString());
    }

    [Fact]
    public void Includes_are_relative_and_cycles_are_errors()
    {
        string dir = Directory.CreateTempSubdirectory("meridian-conf").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "ntp.conf"), "includefile sub/extra.conf\nincludefile missing.conf\n");
            Directory.CreateDirectory(Path.Combine(dir, "sub"));
            File.WriteAllText(Path.Combine(dir, "sub", "extra.conf"), "server 127.127.1.0\nincludefile ../ntp.conf\n");

            NtpConfiguration c = ConfigParser.ParseFile(Path.Combine(dir, "ntp.conf"));

            Assert.Single(c.Associations);
            Assert.Contains(c.Diagnostics, d => d.Severity == DiagnosticSeverity.Error && d.Message.Contains("cycle", StringComparison.Ordinal) && d.File.EndsWith("extra.conf", StringComparison.Ordinal) && d.Line == 2);
            Assert.Contains(c.Diagnostics, d => d.Severity == DiagnosticSeverity.Warning && d.Message.Contains("missing.conf", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("4 M DonTTelL extra", "ntp.keys:2:14: error: key 4: unexpected text after the key (a key cannot contain spaces or '#')")]
    [InlineData("0 M zero", "ntp.keys:2:1: error: key ID must be a number from 1 to 65535, not '0'")]
    [InlineData("7 RC4 secret", "ntp.keys:2:3: error: key 7: unknown key type 'RC4' (M, MD5, SHA1, SHA256, SHA384, SHA512, AES128CMAC)")]
    [InlineData("8 SHA1", "ntp.keys:2:8: error: key 8: expected the key after the type")]
    [InlineData("9 SHA1 0123456789abcdef0123456789abcdef0123456", "ntp.keys:2:8: error: key 9: a key is up to 20 printable characters or an even number of hex digits (40 for MD5/SHA1)")]
    [InlineData("10 AES128CMAC 01234567", "ntp.keys:2:15: error: key 10: AES128CMAC needs a 128-bit key (32 hex digits or 16 characters), not 64 bits")]
    public void Keys_file_problems_name_the_line_and_never_the_key(string line, string expected)
    {
        var diagnostics = new List<ConfigDiagnostic>();
        KeyRing keys = KeyRing.Parse("# keys\n" + line + "\n", "ntp.keys", diagnostics);
        Assert.Equal(expected, Assert.Single(diagnostics).ToString());
        Assert.Equal(0, keys.Count);
    }

    [Fact]
    public void Keys_of_every_type_are_read()
    {
        var diagnostics = new List<ConfigDiagnostic>();
        KeyRing keys = KeyRing.Parse("1 MD5 short # comment\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n3 SHA256 k3\n4 AES128CMAC 000102030405060708090a0b0c0d0e0f\n", "ntp.keys", diagnostics);
        Assert.Empty(diagnostics);
        Assert.Equal([Meridian.Protocol.MacAlgorithm.Md5, Meridian.Protocol.MacAlgorithm.Sha1, Meridian.Protocol.MacAlgorithm.Sha256, Meridian.Protocol.MacAlgorithm.Aes128Cmac], keys.Ids.Order().Select(id => keys[id]!.Algorithm));
        Assert.Equal(20, keys[2]!.Secret.Length);
        Assert.Equal(16, keys[4]!.Secret.Length);
    }

    [Fact]
    public void Trusted_key_ranges_and_access_directives_are_read()
    {
        NtpConfiguration c = ConfigParser.Parse("trustedkey 1 (10 ... 12) 40\nrestrict source nopeer\nunrestrict 192.0.2.0/24 noquery\nrestrict -6 2001:db8::/32 ignore\nmanycastserver 239.255.254.254\nsetvar mydesc = \"rack 4\" default\ndiscard average 3 minimum 1\nmru maxdepth 1000\nrefclock nmea unit 1 refid GPS time2 0.1 flag1 path /dev/ttyAMA0 ppspath /dev/pps0 baud 9600 mode 1\nrefclock jjy unit 0\n", "ntp.conf");
        // The NMEA driver is in effect; a driver this build lacks is a warning naming the line.
        Assert.Equal(["ntp.conf:10:10"], c.Diagnostics.Select(d => $"{d.File}:{d.Line}:{d.Column}"));
        Assert.All(c.Diagnostics, d => Assert.True(d.NotInEffect && d.Severity == DiagnosticSeverity.Warning));
        Assert.Equal([1, 10, 11, 12, 40], c.TrustedKeys.Order());
        Assert.Equal((RestrictTarget.Source, RestrictFlags.NoPeer), (c.Restrictions[0].Target, c.Restrictions[0].Flags));
        Assert.True(c.Restrictions[1] is { Remove: true, Flags: RestrictFlags.NoQuery });
        Assert.Equal((System.Net.IPAddress.Parse("2001:db8::"), 32), (c.Restrictions[2].Address, c.Restrictions[2].MaskBits));
        Assert.Equal("rack 4", c.SetVar["mydesc"]);
        Assert.Equal(new DiscardOptions { Average = 3, Minimum = 1 }, c.Discard);
        Assert.Equal(1000, c.Mru.MaxDepth);
        Assert.Equal(["127.127.20.1", "127.127.40.0"], c.Associations.Select(a => a.Address));
        Assert.Equal(1, c.Associations[0].Mode);
        Assert.True(c.Fudges[new RefclockAddress(20, 1)] is { RefId: "GPS", Time2: 0.1, Path: "/dev/ttyAMA0", PpsPath: "/dev/pps0", Baud: 9600 });
    }

    [Fact]
    public void Tos_tinker_and_slewalways_are_read()
    {
        NtpConfiguration c = ConfigParser.Parse("tos orphan 5 orphanwait 60 maxclock 7\ntos minsane 2\ntinker panic 0 step 0.5\nslewalways yes //slowly\nprecision -18\n", "ntp.conf");
        Assert.Equal(new TosOptions { Orphan = 5, OrphanWait = 60, MaxClock = 7, MinSane = 2 }, c.Tos);
        Assert.Equal(new TinkerOptions { Panic = 0, Step = 0.5 }, c.Tinker);
        Assert.True(c.SlewAlways);
        Assert.Equal(-18, c.Precision);
        Assert.Contains("'//slowly'", Assert.Single(c.Diagnostics).Message);
    }

    [Fact]
    public void The_directives_of_ntpd_4_2_8_and_NTPsec_that_were_unknown_are_read()
    {
        NtpConfiguration c = ConfigParser.Parse("""
            rlimit memlock 32 stacksize 50 filenum 1024
            mdnstries 5
            nic ignore wildcard
            keysdir /etc/ntp
            calldelay 5
            dscp 34
            device 127.127.20.0 timedata /dev/gps0 ppsdata /dev/pps0
            leapsmearinterval 7200
            unconfig 192.0.2.1
            pollskewlist 6 6|6 default 4|4
            tos basedate 2020-01-01 minclock 2
            tinker dispersion 15 stepout 900
            pidfile /run/ntpd.pid
            """, "ntp.conf");

        Assert.False(c.HasErrors, string.Join("\n", c.Diagnostics));
        Assert.DoesNotContain(c.Diagnostics, d => d.Message.Contains("unknown", StringComparison.Ordinal));
        Assert.Equal(34, c.Dscp);
        Assert.Equal(["192.0.2.1"], c.Unpeer);
        Assert.Equal((InterfaceAction.Ignore, "wildcard"), (Assert.Single(c.InterfaceRules).Action, c.InterfaceRules[0].Target));
        Assert.Equal((new DateOnly(2020, 1, 1), 2), (c.Tos.BaseDate, c.Tos.MinClock));
        Assert.Equal((15.0, 900.0), (c.Tinker.Dispersion, c.Tinker.StepOut));
        Assert.Equal("/run/ntpd.pid", c.PidFile);
        // What is read but not in effect says so, each at its line.
        Assert.Equal([1, 2, 4, 5, 10, 11, 12], c.NotInEffect.Select(d => d.Line));
        // leapsmearinterval is in effect now.
        Assert.Equal(7200, c.LeapSmearInterval);
        // ntpd 4.2.8's device line is in effect: the driver opens those paths.
        Assert.True(c.Fudges[new RefclockAddress(20, 0)] is { Path: "/dev/gps0", PpsPath: "/dev/pps0" });
    }

    [Theory]
    [InlineData("peer time.example.net iburst nts", "ntp.conf:1:30: error: NTS authenticates a server: 'nts' belongs on a server line, not a peer line")]
    [InlineData("tos basedate 2020-13-01", "ntp.conf:1:14: error: tos basedate is a date YYYY-MM-DD")]
    [InlineData("pollskewlist 6 6,6", "ntp.conf:1:16: error: pollskewlist skews are written EARLY|LATE")]
    [InlineData("dscp 64", "ntp.conf:1:6: error: 'dscp' is 0 to 63, not 64")]
    [InlineData("device 127.127.20.0 serial /dev/gps0", "ntp.conf:1:21: error: expected timedata or ppsdata, not 'serial'")]
    [InlineData("nic listen eth0/24", "ntp.conf:1:12: error: 'eth0/24' is neither an address with a prefix length nor an interface name")]
    public void New_directives_refuse_what_they_cannot_read(string line, string expected) =>
        Assert.StartsWith(expected, Assert.Single(ConfigParser.Parse(line, "ntp.conf").Diagnostics, d => d.Severity == DiagnosticSeverity.Error).ToString(), StringComparison.Ordinal);

    [Fact]
    public void Options_not_in_effect_are_warned_about_where_they_stand()
    {
        NtpConfiguration c = ConfigParser.Parse("server 192.0.2.1 xleave ttl 4\ntos maxdist 2 minclock 4\nenable calibrate monitor\nmru maxdepth 10 initalloc 4\ndiscard monitor 100\nrestrict default kod noepeer ippeerlimit 2\nfudge 127.127.8.0 time2 0.5\nfudge 127.127.22.0 flag3 1\nserver 192.0.2.2 mode 5\n", "ntp.conf");
        Assert.False(c.HasErrors);
        Assert.Equal(["1:18 xleave", "1:25 ttl", "2:5 tos maxdist", "3:8 enable calibrate", "4:17 mru initalloc", "5:9 discard monitor", "6:22 restrict noepeer", "6:30 restrict ippeerlimit", "7:7 fudge 127.127.8.0", "8:7 fudge 127.127.22.0 flag3", "9:18 mode"],
            c.NotInEffect.Select(d => $"{d.Line}:{d.Column} {d.Message.Split('\'')[1]}"));
    }

    [Fact]
    public void Statistics_and_leapfile_lines_are_in_effect_and_draw_no_warning()
    {
        NtpConfiguration c = ConfigParser.Parse("restrict default kod nomodify\nrestrict 127.0.0.1\nstatistics loopstats cryptostats\nleapfile /x\nleapsmearinterval 86400\nfilegen timingstats type day enable\n", "ntp.conf");
        Assert.False(c.HasErrors);
        Assert.Equal(("/x", 86400.0), (c.LeapFile, c.LeapSmearInterval));
        // Only the statistics files this build does not write are warned about.
        Assert.Equal(
            [
                "ntp.conf:3:22: warning: 'cryptostats' is read and checked but not in effect: Autokey (RFC 5906) is not supported, so there are no crypto statistics",
                "ntp.conf:6:9: warning: 'timingstats' is read and checked but not in effect: this build does not write that file",
            ],
            c.NotInEffect.Select(d => d.ToString()));
    }

    [Theory]
    [InlineData("leapsmearinterval -1", "ntp.conf:1:19: error: 'leapsmearinterval' is 0 to 2592000, not -1")]
    [InlineData("leapsmearinterval 1.5", "ntp.conf:1:19: error: 'leapsmearinterval' needs a number from 0 to 2592000, not '1.5'")]
    [InlineData("leapsmearinterval", "ntp.conf:1:19: error: 'leapsmearinterval' needs a number from 0 to 2592000")]
    public void A_bad_smear_interval_is_an_error(string line, string expected) =>
        Assert.Equal(expected, Assert.Single(ConfigParser.Parse(line, "ntp.conf").Diagnostics).ToString());

    [Fact]
    public void Any_text_parses_or_yields_located_diagnostics_never_an_exception()
    {
        var random = new Random(1305);
        string[] words = ["server", "fudge", "127.127.1.0", "stratum", "minpoll", "3,", "#", "\"", "disable", "ntp", "interface", "listen", "includefile", "-4", "\n", " ", "\t", "x", "99", "flag1", "time2", "refid",
            "restrict", "unrestrict", "default", "mask", "255.255.0.0", "10.0.0.0/8", "::1", "kod", "trust", "//", "trustedkey", "(", "...", ")", "(1", "5)", "tos", "orphan", "tinker", "panic",
            "broadcast", "broadcastclient", "yes", "filegen", "type", "day", "setvar", "=", "refclock", "nmea", "unit", "keys", "crypto", "statistics", "mru", "discard"];
        for (int i = 0; i < 20_000; i++)
        {
            var text = new System.Text.StringBuilder();
            int count = random.Next(0, 30);
            for (int j = 0; j < count; j++)
            {
                text.Append(random.Next(4) == 0 ? ((char)random.Next(0, 0x3000)).ToString() : words[random.Next(words.Length)]).Append(' ');
            }

            NtpConfiguration c = ConfigParser.Parse(text.ToString(), "fuzz.conf");
            Assert.All(c.Diagnostics, d => Assert.True(d.Line >= 1 && d.Column >= 1));
        }
    }

    [Fact]
    public void Any_keys_file_text_parses_or_yields_located_errors_never_an_exception()
    {
        var random = new Random(8573);
        string[] words = ["1", "65535", "70000", "M", "MD5", "SHA1", "AES128CMAC", "secret", "0123456789abcdef0123456789abcdef", "#", "\n", " ", "\t", "x", "-3"];
        for (int i = 0; i < 20_000; i++)
        {
            var text = new System.Text.StringBuilder();
            int count = random.Next(0, 20);
            for (int j = 0; j < count; j++)
            {
                text.Append(random.Next(4) == 0 ? ((char)random.Next(0, 0x3000)).ToString() : words[random.Next(words.Length)]).Append(' ');
            }

            var diagnostics = new List<ConfigDiagnostic>();
            KeyRing keys = KeyRing.Parse(text.ToString(), "fuzz.keys", diagnostics);
            Assert.All(diagnostics, d => Assert.True(d.Line >= 1 && d.Column >= 1 && d.Severity == DiagnosticSeverity.Error));
            Assert.All(keys.Ids, id => Assert.InRange(id, 1u, 65535u));
        }
    }
}

public sealed class NulCharacterTests
{
    [Fact]
    public void A_line_with_a_NUL_byte_is_refused_where_it_stands()
    {
        NtpConfiguration c = ConfigParser.Parse("server 192.0.2.1\nincludefile /etc/ntp\0.conf\nkeys /etc/\0keys\n", "ntp.conf");

        Assert.Equal(["ntp.conf:2:13: error: the line contains a NUL character", "ntp.conf:3:6: error: the line contains a NUL character"],
            c.Diagnostics.Select(d => d.ToString()));
        Assert.Null(c.KeysFile);
        Assert.Single(c.Associations);
    }
}

public sealed class KeysFileWriterTests
{
    [Fact]
    public void A_generated_keys_file_reads_back_as_ten_MD5_and_ten_SHA1_keys()
    {
        for (int run = 0; run < 200; run++)
        {
            string text = KeysFileWriter.Generate("host", new DateTime(2026, 11, 22, 8, 0, 14, DateTimeKind.Utc));
            var problems = new List<ConfigDiagnostic>();
            KeyRing keys = KeyRing.Parse(text, "ntp.keys", problems);

            Assert.Empty(problems);
            Assert.Equal(Enumerable.Range(1, 20).Select(i => (uint)i), keys.Ids.Order());
            Assert.All(Enumerable.Range(1, 10), id => Assert.True(keys[(uint)id] is { Algorithm: Meridian.Protocol.MacAlgorithm.Md5 } k && k.Secret.Length == 20));
            Assert.All(Enumerable.Range(11, 10), id => Assert.True(keys[(uint)id] is { Algorithm: Meridian.Protocol.MacAlgorithm.Sha1 } k && k.Secret.Length == 20));
        }

        Assert.Equal("ntpkey_MD5key_host.4004323214", KeysFileWriter.FileName("host", new DateTime(2026, 11, 22, 8, 0, 14, DateTimeKind.Utc)));
    }
}
