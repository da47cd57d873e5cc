using Meridian.Config;

namespace Meridian.Config.Tests;

public sealed class LeapSecondsFileTests
{
    private static string RealFile => Path.Combine(AppContext.BaseDirectory, "LeapSeconds", "leap-seconds.list");

    /// <summary>A small file in the list's format with a hash computed the way NIST does (digits of #$, #@ and data).</summary>
    internal static string Synthetic(long updated, long expires, params (long Seconds, int Tai)[] entries)
    {
        string digits = $"{updated}{expires}" + string.Concat(entries.Select(e => $"{e.Seconds}{e.Tai}"));
        byte[] sha = System.Security.Cryptography.SHA1.HashData(System.Text.Encoding.ASCII.GetBytes(digits));
        string hash = string.Join(' ', Enumerable.Range(0, 5).Select(w => Convert.ToHexStringLower(sha, w * 4, 4)));
        return $"# synthetic\n#$\t{updated}\n#@\t{expires}\n" + string.Concat(entries.Select(e => $"{e.Seconds}\t{e.Tai}\t# entry\n")) + $"#h\t{hash}\n";
    }

    [Fact]
    public void The_real_tzdata_file_parses_with_a_valid_hash()
    {
        var problems = new List<ConfigDiagnostic>();
        LeapSecondsFile? file = LeapSecondsFile.Read(RealFile, problems);

        Assert.Empty(problems);
        Assert.NotNull(file);
        Assert.True(file.HashValid);
        Assert.Equal(28, file.Entries.Count);
        Assert.Equal(new LeapSecondsEntry(2272060800, 10), file.Entries[0]);
        // 1 Jan 2017: TAI-UTC became 37 (the 2016-12-31 insertion), the last so far.
        Assert.Equal(new LeapSecondsEntry(3692217600, 37), file.Entries[^1]);
        Assert.Equal(new DateTime(2017, 1, 1, 0, 0, 0, DateTimeKind.Utc), LeapSecondsFile.ToUtc(file.Entries[^1].NtpSeconds));
        Assert.Equal(new DateTime(2025, 7, 7, 0, 0, 0, DateTimeKind.Utc), LeapSecondsFile.ToUtc(file.Updated));
        Assert.Equal(new DateTime(2026, 6, 28, 0, 0, 0, DateTimeKind.Utc), LeapSecondsFile.ToUtc(file.Expires));
    }

    [Theory]
    [InlineData("3692217600      37", "3692217601      37")]
    [InlineData("#@\t3991593600", "#@\t3991593601")]
    [InlineData("3692217600      37      # 1 Jan 2017\n", "")]
    public void Tampered_data_fails_the_hash_and_is_refused(string original, string tampered)
    {
        string text = File.ReadAllText(RealFile);
        Assert.Contains(original, text, StringComparison.Ordinal);
        var problems = new List<ConfigDiagnostic>();

        LeapSecondsFile? file = LeapSecondsFile.Parse(text.Replace(original, tampered, StringComparison.Ordinal), "leap-seconds.list", problems);

        Assert.Null(file);
        ConfigDiagnostic error = Assert.Single(problems, p => p.Severity == DiagnosticSeverity.Error);
        Assert.Contains("SHA-1 hash", error.Message, StringComparison.Ordinal);
        Assert.Equal(text.Split('\n').ToList().FindIndex(l => l.StartsWith("#h", StringComparison.Ordinal)) + 1 - (tampered.Length == 0 ? 1 : 0), error.Line);
    }

    [Fact]
    public void Comments_and_whitespace_do_not_count_in_the_hash()
    {
        string text = File.ReadAllText(RealFile).Replace("3692217600      37      # 1 Jan 2017", "3692217600\t37 # the last one", StringComparison.Ordinal);
        var problems = new List<ConfigDiagnostic>();
        Assert.NotNull(LeapSecondsFile.Parse(text, "leap-seconds.list", problems));
        Assert.Empty(problems);
    }

    [Theory]
    [InlineData("3692217600\tx37\n", "leap.list:5:12: error: expected TAI-UTC in seconds, not 'x37'")]
    [InlineData("369221760O\t37\n", "leap.list:5:1: error: expected NTP seconds (the leap's effect), not '369221760O'")]
    [InlineData("  3692217600\n", "leap.list:5:14: error: expected TAI-UTC after the NTP seconds")]
    [InlineData("3700000000\t39\n", "leap.list:5:12: error: TAI-UTC changes from 37 to 39: a leap second moves it by one")]
    [InlineData("3600000000\t38\n", "leap.list:5:1: error: 3600000000 is not after the line before (3692217600): the entries must ascend")]
    public void A_bad_line_is_a_diagnostic_with_line_and_column(string line, string expected)
    {
        string text = "#$\t3960835200\n#@\t3991593600\n3644697600\t36\n3692217600\t37\n" + line;
        var problems = new List<ConfigDiagnostic>();

        Assert.Null(LeapSecondsFile.Parse(text, "leap.list", problems));

        Assert.Equal(expected, problems.First(p => p.Severity == DiagnosticSeverity.Error).ToString());
    }

    [Fact]
    public void A_file_without_expiry_or_entries_is_refused_and_one_without_a_hash_is_a_warning()
    {
        var problems = new List<ConfigDiagnostic>();
        Assert.Null(LeapSecondsFile.Parse("#$\t3960835200\n3692217600\t37\n", "a.list", problems));
        Assert.Contains(problems, p => p.Severity == DiagnosticSeverity.Error && p.Message.Contains("expiry", StringComparison.Ordinal));

        problems.Clear();
        Assert.Null(LeapSecondsFile.Parse("#@\t3991593600\n", "b.list", problems));
        Assert.Contains(problems, p => p.Severity == DiagnosticSeverity.Error && p.Message.Contains("no leap second entries", StringComparison.Ordinal));

        problems.Clear();
        LeapSecondsFile? unhashed = LeapSecondsFile.Parse("#@\t3991593600\n3692217600\t37\n", "c.list", problems);
        Assert.NotNull(unhashed);
        Assert.False(unhashed.HashValid);
        Assert.Equal(DiagnosticSeverity.Warning, Assert.Single(problems).Severity);
    }

    [Fact]
    public void A_synthetic_file_with_a_deletion_and_a_short_hash_word_is_read()
    {
        string text = Synthetic(3960835200, 4000000000, (3692217600, 37), (3975000000, 38), (3976000000, 37));
        var problems = new List<ConfigDiagnostic>();
        LeapSecondsFile? file = LeapSecondsFile.Parse(text, "s.list", problems);
        Assert.Empty(problems);
        Assert.Equal([37, 38, 37], file!.Entries.Select(e => e.TaiOffset));

        // Leading zeros of a hash word may be left out.
        string hashLine = text.Split('\n').Single(l => l.StartsWith("#h", StringComparison.Ordinal));
        string[] words = hashLine[2..].Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
        string shortened = "#h\t" + string.Join(' ', words.Select(w => Convert.ToUInt32(w, 16).ToString("x", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.NotNull(LeapSecondsFile.Parse(text.Replace(hashLine, shortened, StringComparison.Ordinal), "s.list", problems));
    }

    [Fact]
    public void A_missing_file_is_an_error_at_line_0()
    {
        var problems = new List<ConfigDiagnostic>();
        Assert.Null(LeapSecondsFile.Read("/nonexistent/leap-seconds.list", problems));
        Assert.Equal("/nonexistent/leap-seconds.list:0:0: error: the leap seconds file does not exist", Assert.Single(problems).ToString());
    }
}
