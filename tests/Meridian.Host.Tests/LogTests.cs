namespace Meridian.Host.Tests;

public sealed class LogTests
{
    [Fact]
    public void Human_log_time_pads_the_day_to_two()
    {
        Assert.Equal(" 4 Jun 05:07:09", Log.HumanTime(new DateTime(2026, 6, 4, 5, 7, 9)));
        Assert.Equal("22 Nov 10:05:24", Log.HumanTime(new DateTime(2026, 11, 22, 10, 5, 24)));
    }

    [Fact]
    public void Log_lines_carry_program_and_pid()
    {
        var text = new StringWriter();
        using (Log log = Log.ToWriter("ntpdate", text))
        {
            log.Notice("adjust time server 192.0.2.1 offset 0.010462 sec");
            log.Debug("not shown at the default threshold");
        }

        Assert.Matches($@"^[ 0-9]\d [A-Z][a-z]{{2}} \d\d:\d\d:\d\d ntpdate\[{Environment.ProcessId}\]: adjust time server 192\.0\.2\.1 offset 0\.010462 sec\r?\n$", text.ToString());
    }

    [Fact]
    public void Reopen_writes_to_a_new_file_after_the_old_one_was_renamed()
    {
        string directory = Directory.CreateTempSubdirectory("meridian-log-").FullName;
        try
        {
            string path = Path.Combine(directory, "ntp.log");
            using Log log = Log.ToFile("ntpd", path);
            log.Notice("before rotation");
            File.Move(path, path + ".1");
            log.Notice("still into the renamed file");
            log.Reopen();
            log.Notice("after reopening");

            Assert.Contains("still into the renamed file", File.ReadAllText(path + ".1"), StringComparison.Ordinal);
            string fresh = File.ReadAllText(path);
            Assert.Contains("after reopening", fresh, StringComparison.Ordinal);
            Assert.DoesNotContain("before rotation", fresh, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, true);
        }
    }
}
