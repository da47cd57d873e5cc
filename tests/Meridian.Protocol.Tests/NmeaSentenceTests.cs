using System.Text;
using Meridian.Protocol;

namespace Meridian.Protocol.Tests;

public sealed class NmeaSentenceTests
{
    private const string ClassicRmc = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A";

    [Fact]
    public void The_checksum_helper_agrees_with_the_classic_example()
    {
        Assert.Equal("6A", Checksum("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W"));
        Assert.Equal(ClassicRmc, Sentence("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W"));
    }

    [Fact]
    public void The_classic_RMC_gives_time_date_and_a_valid_fix()
    {
        Assert.Equal(NmeaStatus.Ok, Parse(ClassicRmc, out NmeaSentence s));
        Assert.Equal(NmeaKind.Rmc, s.Kind);
        Assert.Equal(new NmeaTime(12, 35, 19, 0), s.Time);
        Assert.Equal(new NmeaDate(94, 3, 23, TwoDigitYear: true), s.Date);
        Assert.True(s.Valid);
        Assert.True(s.HasChecksum);
    }

    [Theory]
    [InlineData("GP")]
    [InlineData("GN")]
    [InlineData("GL")]
    [InlineData("GA")]
    [InlineData("BD")]
    public void Any_talker_is_accepted(string talker)
    {
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence(talker + "RMC,225446.00,A,4916.45,N,12311.12,W,000.5,054.7,191194,020.3,E,A"), out NmeaSentence rmc));
        Assert.Equal(NmeaKind.Rmc, rmc.Kind);
        Assert.Equal(new NmeaDate(94, 11, 19, true), rmc.Date);
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence(talker + "GGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,"), out NmeaSentence gga));
        Assert.Equal(NmeaKind.Gga, gga.Kind);
        Assert.Equal(new NmeaTime(9, 27, 50, 0), gga.Time);
    }

    [Theory]
    [InlineData("123519.5", 500_000_000)]
    [InlineData("123519.25", 250_000_000)]
    [InlineData("123519.001", 1_000_000)]
    [InlineData("123519.123456789", 123_456_789)]
    [InlineData("123519.1234567899999", 123_456_789)]
    [InlineData("123519.", 0)]
    [InlineData("123519", 0)]
    public void Fractions_become_nanoseconds(string time, int nanoseconds)
    {
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence($"GPZDA,{time},23,03,2026,00,00"), out NmeaSentence s));
        Assert.Equal(new NmeaTime(12, 35, 19, nanoseconds), s.Time);
    }

    [Fact]
    public void An_RMC_with_status_V_still_gives_its_time_but_is_not_valid()
    {
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence("GPRMC,235959,V,,,,,,,311226,,,N"), out NmeaSentence s));
        Assert.False(s.Valid);
        Assert.Equal(new NmeaTime(23, 59, 59, 0), s.Time);
        Assert.Equal(new NmeaDate(26, 12, 31, true), s.Date);
    }

    [Fact]
    public void An_invalid_fix_without_a_time_is_a_bad_time()
    {
        Assert.Equal(NmeaStatus.BadTime, Parse(Sentence("GPRMC,,V,,,,,,,,,,N"), out _));
        Assert.Equal(NmeaStatus.BadTime, Parse(Sentence("GPGGA,,,,,,0,00,99.99,,,,,,"), out _));
    }

    [Theory]
    [InlineData("0", false)]
    [InlineData("", false)]
    [InlineData("1", true)]
    [InlineData("2", true)]
    [InlineData("6", true)]
    public void GGA_validity_is_its_fix_quality(string quality, bool valid)
    {
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence($"GPGGA,123519,4807.038,N,01131.000,E,{quality},08,0.9,545.4,M,46.9,M,,"), out NmeaSentence s));
        Assert.Equal(valid, s.Valid);
        Assert.Null(s.Date);
        Assert.Equal(new NmeaTime(12, 35, 19, 0), s.Time);
    }

    [Fact]
    public void A_GGA_cut_short_before_its_quality_is_not_valid()
    {
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence("GPGGA,123519,4807.038"), out NmeaSentence s));
        Assert.False(s.Valid);
    }

    [Fact]
    public void GLL_takes_its_time_from_field_5_and_status_from_field_6()
    {
        Assert.Equal("$GPGLL,5057.970,N,00146.110,E,142451,A*27", Sentence("GPGLL,5057.970,N,00146.110,E,142451,A"));
        Assert.Equal(NmeaStatus.Ok, Parse("$GPGLL,5057.970,N,00146.110,E,142451,A*27", out NmeaSentence s));
        Assert.Equal(NmeaKind.Gll, s.Kind);
        Assert.Equal(new NmeaTime(14, 24, 51, 0), s.Time);
        Assert.True(s.Valid);
        Assert.Null(s.Date);
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence("GNGLL,5057.970,N,00146.110,E,142451.50,V,N"), out NmeaSentence v));
        Assert.False(v.Valid);
        Assert.Equal(500_000_000, v.Time.Nanosecond);
    }

    [Fact]
    public void ZDA_carries_a_four_digit_year_and_is_always_valid()
    {
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence("GPZDA,201530.00,04,07,2002,00,00"), out NmeaSentence s));
        Assert.Equal(NmeaKind.Zda, s.Kind);
        Assert.Equal(new NmeaTime(20, 15, 30, 0), s.Time);
        Assert.Equal(new NmeaDate(2002, 7, 4, TwoDigitYear: false), s.Date);
        Assert.True(s.Valid);
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence("GNZDA,201530.00,4,7,2027,,"), out NmeaSentence short1));
        Assert.Equal(new NmeaDate(2027, 7, 4, false), short1.Date);
    }

    [Fact]
    public void ZDG_is_recognized_with_its_date()
    {
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence("GPZDG,120001.00,22,11,2026,00,00,1"), out NmeaSentence s));
        Assert.Equal(NmeaKind.Zdg, s.Kind);
        Assert.Equal(new NmeaTime(12, 0, 1, 0), s.Time);
        Assert.Equal(new NmeaDate(2026, 11, 22, false), s.Date);
        Assert.True(s.Valid);
    }

    [Theory]
    [InlineData("GPZDA,201530,04,07,1980,00,00")]
    [InlineData("GPZDA,201530,04,07,0000,00,00")]
    [InlineData("GPZDA,201530,04,07,02,00,00")]
    [InlineData("GPZDA,201530,004,07,2002,00,00")]
    [InlineData("GPZDA,201530,04,,2002,00,00")]
    [InlineData("GPZDA,201530,32,07,2002,00,00")]
    [InlineData("GPZDA,201530,00,07,2002,00,00")]
    [InlineData("GPZDA,201530,04,13,2002,00,00")]
    [InlineData("GPZDA,201530,04,0x,2002,00,00")]
    [InlineData("GPZDG,201530,04,07,20O2,00,00")]
    [InlineData("GPZDA,201530")]
    [InlineData("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,320394,003.1,W")]
    [InlineData("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,000394,003.1,W")]
    [InlineData("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,231394,003.1,W")]
    [InlineData("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230094,003.1,W")]
    [InlineData("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,23039,003.1,W")]
    [InlineData("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,2303944,003.1,W")]
    [InlineData("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,,003.1,W")]
    [InlineData("GPRMC,123519,A")]
    public void Malformed_dates_are_bad_dates(string body)
    {
        Assert.Equal(NmeaStatus.BadDate, Parse(Sentence(body), out NmeaSentence s));
        Assert.Equal(default, s);
    }

    [Fact]
    public void A_leap_second_is_second_60()
    {
        Assert.Equal(NmeaStatus.Ok, Parse(Sentence("GPZDA,235960.00,31,12,2016,00,00"), out NmeaSentence s));
        Assert.Equal(new NmeaTime(23, 59, 60, 0), s.Time);
    }

    [Theory]
    [InlineData("235961")]
    [InlineData("240000")]
    [InlineData("126000")]
    [InlineData("12351")]
    [InlineData("1235190")]
    [InlineData("1235a9")]
    [InlineData("123519x")]
    [InlineData("123519.5x")]
    [InlineData("123519:5")]
    [InlineData(" 123519")]
    [InlineData("-12351")]
    [InlineData("")]
    public void Malformed_times_are_bad_times(string time)
    {
        Assert.Equal(NmeaStatus.BadTime, Parse(Sentence($"GPZDA,{time},23,03,2026,00,00"), out _));
        Assert.Equal(NmeaStatus.BadTime, Parse(Sentence($"GPRMC,{time},A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W"), out _));
    }

    [Fact]
    public void A_wrong_checksum_is_a_bad_checksum()
    {
        Assert.Equal(NmeaStatus.BadChecksum, Parse(ClassicRmc[..^2] + "6B", out NmeaSentence s));
        Assert.Equal(default, s);
        // One corrupted character in the data.
        Assert.Equal(NmeaStatus.BadChecksum, Parse(ClassicRmc.Replace("123519", "123518", StringComparison.Ordinal), out _));
        // Checked before the sentence type: a damaged GSV is damaged, not unknown.
        string gsv = Sentence("GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00");
        Assert.Equal(NmeaStatus.BadChecksum, Parse(gsv[..^1] + (gsv[^1] == '0' ? "1" : "0"), out _));
    }

    [Theory]
    [InlineData("*6a")]
    [InlineData("*6")]
    [InlineData("*6A0")]
    [InlineData("*G1")]
    [InlineData("*")]
    [InlineData("* 6A")]
    public void Checksums_that_are_not_two_uppercase_hex_digits_are_bad_syntax(string tail)
    {
        Assert.Equal(NmeaStatus.BadSyntax, Parse(ClassicRmc[..^3] + tail, out _));
    }

    [Fact]
    public void A_star_inside_the_fields_is_bad_syntax()
    {
        Assert.Equal(NmeaStatus.BadSyntax, Parse("$GPRMC,123519,A*,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A", out _));
    }

    [Fact]
    public void A_missing_checksum_is_accepted_and_flagged()
    {
        Assert.Equal(NmeaStatus.Ok, Parse(ClassicRmc[..^3], out NmeaSentence s));
        Assert.False(s.HasChecksum);
        Assert.True(s.Valid);
        Assert.Equal(new NmeaTime(12, 35, 19, 0), s.Time);
    }

    [Theory]
    [InlineData("GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00")]
    [InlineData("GPVTG,089.0,T,,,15.2,N,,")]
    [InlineData("PGRMF,290,293895,160305,093802,13,5213.1439,N,02100.6511,E,A,2,0,226,2,1")]
    [InlineData("GPRMCX,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W")]
    [InlineData("GPZDAA,201530.00,04,07,2002,00,00")]
    public void Other_sentences_are_unsupported(string line)
    {
        Assert.Equal(NmeaStatus.Unsupported, Parse(Sentence(line), out NmeaSentence s));
        Assert.Equal(NmeaStatus.Unsupported, Parse("$" + line, out _));
        Assert.Equal(default, s);
    }

    [Theory]
    [InlineData("GPRMC,123519,A")]
    [InlineData("!AIVDM,1,1,,A,13aGra0P00PHid>NK9<2=?vH0<0j,0*5C")]
    [InlineData("$gprmc,123519,A")]
    [InlineData("$1PRMC,123519,A")]
    [InlineData("$GPRM,123519,A")]
    [InlineData("$PUBX,04,073731.00,091202,113851.00,1196,15D,1930035,-2660.664,43*3C")]
    [InlineData("$GPRMC")]
    [InlineData("$GPRMC*4B")]
    [InlineData("$GP-MC,123519,A")]
    [InlineData("$")]
    [InlineData("$,")]
    [InlineData("x$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A")]
    public void Lines_that_are_not_NMEA_sentences_are_bad_syntax(string line)
    {
        Assert.Equal(NmeaStatus.BadSyntax, Parse(line, out NmeaSentence s));
        Assert.Equal(default, s);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\r\n")]
    [InlineData("\n")]
    [InlineData("   \t ")]
    [InlineData("\0\0")]
    public void Blank_lines_are_empty(string line)
    {
        Assert.Equal(NmeaStatus.Empty, Parse(line, out _));
    }

    [Fact]
    public void CR_LF_with_parity_bits_is_still_empty()
    {
        Assert.Equal(NmeaStatus.Empty, NmeaSentence.TryParse([0x8D, 0x8A], out _));
    }

    [Fact]
    public void Surrounding_white_space_and_line_ends_are_ignored()
    {
        Assert.Equal(NmeaStatus.Ok, Parse(" \t" + ClassicRmc + "\r\n", out NmeaSentence s));
        Assert.Equal(new NmeaTime(12, 35, 19, 0), s.Time);
        Assert.True(s.HasChecksum);
    }

    [Fact]
    public void Parity_bits_are_stripped()
    {
        byte[] all = Encoding.ASCII.GetBytes(ClassicRmc + "\r\n").Select(b => (byte)(b | 0x80)).ToArray();
        Assert.Equal(NmeaStatus.Ok, NmeaSentence.TryParse(all, out NmeaSentence s));
        Assert.Equal(new NmeaTime(12, 35, 19, 0), s.Time);
        Assert.Equal(new NmeaDate(94, 3, 23, true), s.Date);
        Assert.True(s.Valid);
        Assert.True(s.HasChecksum);

        // Even parity on 7 data bits, as a 7E1 receiver read at 8N1 delivers it.
        byte[] even = Encoding.ASCII.GetBytes(ClassicRmc).Select(b => (byte)(System.Numerics.BitOperations.PopCount(b) % 2 == 1 ? b | 0x80 : b)).ToArray();
        Assert.Equal(NmeaStatus.Ok, NmeaSentence.TryParse(even, out NmeaSentence e));
        Assert.Equal(s, e);
    }

    [Fact]
    public void Obscure_wipes_the_RMC_position_and_checksum()
    {
        Assert.Equal("$GPRMC,123519,A,____.___,_,_____.___,_,022.4,084.4,230394,003.1,W*__", Obscure(ClassicRmc));
    }

    [Fact]
    public void Obscure_wipes_the_GGA_and_GLL_coordinates()
    {
        string gga = Sentence("GNGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,");
        Assert.Equal("$GNGGA,123519,____.___,N,_____.___,E,1,08,0.9,545.4,M,46.9,M,,*__", Obscure(gga));
        Assert.Equal("$GPGLL,____.___,N,_____.___,E,142451,A*__", Obscure("$GPGLL,5057.970,N,00146.110,E,142451,A*27"));
        Assert.Equal("$GPGLL,____.___,N,_____.___,E,142451,A", Obscure("$GPGLL,5057.970,N,00146.110,E,142451,A"));
    }

    [Fact]
    public void Obscure_leaves_sentences_without_a_position_alone()
    {
        string zda = Sentence("GPZDA,201530.00,04,07,2002,00,00");
        Assert.Equal(zda, Obscure(zda));
        Assert.Equal("$GPGSV,3,1,11,03,03,111,00*74", Obscure("$GPGSV,3,1,11,03,03,111,00*74"));
    }

    [Fact]
    public void Obscure_trims_strips_parity_and_keeps_empty_fields()
    {
        byte[] line = Encoding.ASCII.GetBytes("  " + Sentence("GPRMC,,V,,,,,,,,,,N") + "\r\n").Select(b => (byte)(b | 0x80)).ToArray();
        var destination = new byte[line.Length];
        int length = NmeaSentence.Obscure(line, destination);
        Assert.Equal("$GPRMC,,V,,,,,,,,,,N*__", Encoding.ASCII.GetString(destination, 0, length));
    }

    [Fact]
    public void Obscure_truncates_to_the_destination()
    {
        byte[] line = Encoding.ASCII.GetBytes(ClassicRmc);
        var destination = new byte[24];
        int length = NmeaSentence.Obscure(line, destination.AsSpan(0, 20));
        Assert.Equal(20, length);
        Assert.Equal("$GPRMC,123519,A,____", Encoding.ASCII.GetString(destination, 0, length));
        Assert.All(destination[20..], b => Assert.Equal(0, b));
        Assert.Equal(0, NmeaSentence.Obscure(line, []));
    }

    [Fact]
    public void Random_lines_never_throw_and_what_parses_is_in_range()
    {
        var random = new Random(20_261_122);
        byte[][] seeds = [.. new[]
        {
            ClassicRmc, Sentence("GNGGA,123519.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"),
            "$GPGLL,5057.970,N,00146.110,E,142451,A*27", Sentence("GPZDA,201530.00,04,07,2002,00,00"), Sentence("GPZDG,120001.00,22,11,2026,00,00,1"),
        }.SelectMany(line => new[] { line, line[..line.IndexOf('*', StringComparison.Ordinal)] }).Select(Encoding.ASCII.GetBytes)];
        byte[] alphabet = Encoding.ASCII.GetBytes("$*,.0123456789AGPRMCZDLNEVW\r\n ");
        var destination = new byte[300];
        int ok = 0;
        for (int i = 0; i < 10_000; i++)
        {
            byte[] line;
            switch (i % 3)
            {
                case 0:
                    line = new byte[random.Next(0, 120)];
                    random.NextBytes(line);
                    break;
                case 1:
                    line = new byte[random.Next(0, 120)];
                    for (int j = 0; j < line.Length; j++)
                    {
                        line[j] = alphabet[random.Next(alphabet.Length)];
                    }

                    break;
                default:
                    line = (byte[])seeds[random.Next(seeds.Length)].Clone();
                    for (int k = random.Next(1, 4); k > 0; k--)
                    {
                        line[random.Next(line.Length)] = alphabet[random.Next(alphabet.Length)];
                    }

                    break;
            }

            NmeaStatus status = NmeaSentence.TryParse(line, out NmeaSentence s);
            Assert.True(Enum.IsDefined(status));
            if (status == NmeaStatus.Ok)
            {
                ok++;
                AssertInRange(s);
            }
            else
            {
                Assert.Equal(default, s);
            }

            int length = NmeaSentence.Obscure(line, destination.AsSpan(0, line.Length));
            Assert.InRange(length, 0, line.Length);
        }

        Assert.True(ok > 100, $"only {ok} of the mutated sentences parsed");
    }

    [Fact]
    public void Parsing_and_obscuring_do_not_allocate()
    {
        byte[] line = Encoding.ASCII.GetBytes(ClassicRmc + "\r\n");
        var destination = new byte[line.Length];
        for (int i = 0; i < 100; i++)
        {
            NmeaSentence.TryParse(line, out _);
            NmeaSentence.Obscure(line, destination);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            NmeaSentence.TryParse(line, out _);
            NmeaSentence.Obscure(line, destination);
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    internal static void AssertInRange(NmeaSentence s)
    {
        Assert.True(Enum.IsDefined(s.Kind));
        Assert.InRange(s.Time.Hour, 0, 23);
        Assert.InRange(s.Time.Minute, 0, 59);
        Assert.InRange(s.Time.Second, 0, 60);
        Assert.InRange(s.Time.Nanosecond, 0, 999_999_999);
        Assert.Equal(s.Kind is NmeaKind.Rmc or NmeaKind.Zda or NmeaKind.Zdg, s.Date.HasValue);
        if (s.Date is { } date)
        {
            Assert.InRange(date.Month, 1, 12);
            Assert.InRange(date.Day, 1, 31);
            Assert.Equal(s.Kind == NmeaKind.Rmc, date.TwoDigitYear);
            if (date.TwoDigitYear)
            {
                Assert.InRange(date.Year, 0, 99);
            }
            else
            {
                Assert.InRange(date.Year, 1981, 9999);
            }
        }
    }

    /// <summary>A sentence with its checksum: <c>$</c>, the body, <c>*</c> and the XOR of the body in uppercase hex.</summary>
    private static string Sentence(string body) => "$" + body + "*" + Checksum(body);

    private static string Checksum(string body)
    {
        byte sum = 0;
        foreach (char c in body)
        {
            sum ^= (byte)c;
        }

        return sum.ToString("X2", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static NmeaStatus Parse(string line, out NmeaSentence sentence) => NmeaSentence.TryParse(Encoding.ASCII.GetBytes(line), out sentence);

    private static string Obscure(string line)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(line);
        var destination = new byte[bytes.Length];
        int length = NmeaSentence.Obscure(bytes, destination);
        return Encoding.ASCII.GetString(destination, 0, length);
    }
}
