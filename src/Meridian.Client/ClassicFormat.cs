using System.Globalization;
using Meridian.Protocol;

namespace Meridian.Client;

/// <summary>
/// The number and date formats of the classic ntp tools (libntp's lfptoa, fptoa, prettydate), so that the output
/// of our ntpdate matches what scripts written for ntpd 4.2.8 parse.
/// </summary>
public static class ClassicFormat
{
    private static readonly string[] Days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    /// <summary>Fixed decimals, a '-' for negative values and no sign otherwise (lfptoa/fptoa).</summary>
    public static string Seconds(double value, int decimals)
    {
        string text = Math.Abs(value).ToString("F" + decimals, CultureInfo.InvariantCulture);
        bool negative = value < 0 && text.Any(c => c is >= '1' and <= '9');
        return negative ? "-" + text : text;
    }

    /// <summary>
    /// <c>e6d1ca6e.b1c9da3c  Sat, Oct  8 2022 10:54:06.694</c>: the timestamp in hex, then local time to the
    /// millisecond (prettydate).
    /// </summary>
    public static string PrettyDate(NtpTimestamp timestamp)
    {
        DateTime utc = timestamp.ToDateTime();
        DateTime local = utc.ToLocalTime();
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{timestamp}  {Days[(int)local.DayOfWeek]}, {Months[local.Month - 1]} {local.Day,2} {local.Year,4} {local.Hour,2}:{local.Minute:00}:{local.Second:00}.{local.Millisecond:000}");
    }
}
