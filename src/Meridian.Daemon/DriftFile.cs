using System.Globalization;
using Meridian.Host;

namespace Meridian.Daemon;

/// <summary>
/// The drift file (ntpd's <c>driftfile</c>): the clock's frequency error in PPM, read at start so that the
/// discipline need not learn it again, written every hour while the clock is disciplined and at exit — write,
/// fsync, rename, so that a crash never leaves a torn file.
/// </summary>
public sealed class DriftFile(string path, Log log)
{
    /// <summary>The most a frequency can be, PPM: a file saying more is not believed.</summary>
    public const double Limit = 500;

    public string Path { get; } = path;

    /// <summary>The frequency the file holds, PPM; null when there is none or it is not a frequency.</summary>
    public double? Read()
    {
        if (!File.Exists(Path))
        {
            return null;
        }

        string text;
        try
        {
            text = File.ReadAllText(Path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Warning($"cannot read drift file {Path}: {e.Message}");
            return null;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double ppm) && Math.Abs(ppm) <= Limit)
        {
            log.Info($"initial drift restored to {ppm:0.000000} PPM from {Path}");
            return ppm;
        }

        log.Warning($"{Path}: '{text}' is not a frequency in PPM; ignored");
        return null;
    }

    /// <summary>Writes <paramref name="ppm"/>; a failure is logged, not thrown (the daemon keeps running).</summary>
    public bool Write(double ppm)
    {
        try
        {
            AtomicFile.Write(Path, ppm.ToString("0.000000", CultureInfo.InvariantCulture) + "\n");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Warning($"cannot write drift file {Path}: {e.Message}");
            return false;
        }
    }
}
