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

    /// <summary>How often the file is written while the clock is disciplined, seconds.</summary>
    public const double Interval = 3600;

    private double _lastWrite = double.NaN;

    public string Path { get; } = path;

    /// <summary>What the file held when the daemon started (what <see cref="Read"/> returned).</summary>
    public double? AtStart { get; private set; }

    /// <summary>Every hour (monotonic <paramref name="now"/>): the frequency in use, while the daemon disciplines a synchronized clock.</summary>
    public void Tick(double now, bool disciplining, double frequencyPpm)
    {
        if (double.IsNaN(_lastWrite))
        {
            _lastWrite = now;
        }

        if (now - _lastWrite >= Interval)
        {
            _lastWrite = now;
            if (disciplining)
            {
                Write(frequencyPpm);
            }
        }
    }

    /// <summary>
    /// At exit: the frequency in use when the daemon disciplined a synchronized clock, else what the file held at start
    /// (under <c>disable ntp</c> nothing was learned that the file should keep); nothing when there is neither.
    /// </summary>
    public double? Save(bool disciplining, double frequencyPpm)
    {
        double? ppm = disciplining ? frequencyPpm : AtStart;
        return ppm is double value && Write(value) ? value : null;
    }

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
            AtStart = ppm;
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
