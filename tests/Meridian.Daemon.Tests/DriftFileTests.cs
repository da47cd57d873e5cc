using Meridian.Host;

namespace Meridian.Daemon.Tests;

public sealed class DriftFileTests
{
    [Fact]
    public void Written_hourly_while_disciplining_and_at_exit_with_what_is_worth_keeping()
    {
        string directory = Directory.CreateTempSubdirectory("meridian-drift-").FullName;
        try
        {
            string path = Path.Combine(directory, "ntp.drift");
            File.WriteAllText(path, "-12.5\n");
            var drift = new DriftFile(path, Log.ToWriter("ntpd", TextWriter.Null));
            Assert.Equal(-12.5, drift.Read());

            drift.Tick(0, disciplining: true, 3.0);
            drift.Tick(3599, disciplining: true, 3.0);
            Assert.Equal("-12.5\n", File.ReadAllText(path));
            drift.Tick(3600, disciplining: true, 3.0);
            Assert.Equal("3.000000\n", File.ReadAllText(path));
            drift.Tick(7200, disciplining: false, 4.0);
            Assert.Equal("3.000000\n", File.ReadAllText(path));

            // At exit: the frequency in use when disciplining, else the value read at start.
            Assert.Equal(-12.5, drift.Save(disciplining: false, 99));
            Assert.Equal("-12.500000\n", File.ReadAllText(path));
            Assert.Equal(5.25, drift.Save(disciplining: true, 5.25));
            Assert.Equal("5.250000\n", File.ReadAllText(path));
            Assert.False(File.Exists(path + ".TEMP"));

            var none = new DriftFile(Path.Combine(directory, "absent.drift"), Log.ToWriter("ntpd", TextWriter.Null));
            Assert.Null(none.Read());
            Assert.Null(none.Save(disciplining: false, 1));
            Assert.False(File.Exists(none.Path));
        }
        finally
        {
            Directory.Delete(directory, true);
        }
    }
}
