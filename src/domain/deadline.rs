//! When the service must contact a patient: 24 hours after receipt, moved to the end of the next
//! working day when the request arrives on a Friday, a weekend or a bank holiday, or when its
//! 24 hours end on a non-working day. Working days are reckoned in Europe/London.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Working days in the service's time zone, with bank holidays from configuration.
#[derive(Clone, Debug)]
pub struct WorkingCalendar {
    zone: Tz,
    bank_holidays: Vec<NaiveDate>,
}

impl WorkingCalendar {
    pub fn new(zone: Tz, mut bank_holidays: Vec<NaiveDate>) -> Self {
        bank_holidays.sort_unstable();
        bank_holidays.dedup();
        Self {
            zone,
            bank_holidays,
        }
    }

    pub fn london(bank_holidays: Vec<NaiveDate>) -> Self {
        Self::new(chrono_tz::Europe::London, bank_holidays)
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
            && self.bank_holidays.binary_search(&day).is_err()
    }

    /// The first working day strictly after `day`.
    pub fn next_working_day(&self, day: NaiveDate) -> NaiveDate {
        let mut next = day.succ_opt().expect("date in range");
        while !self.is_working_day(next) {
            next = next.succ_opt().expect("date in range");
        }
        next
    }

    /// The time by which the service will contact the patient about a request received at `received`.
    pub fn contact_by(&self, received: DateTime<Utc>) -> DateTime<Utc> {
        let local_received = received.with_timezone(&self.zone).date_naive();
        let plain = received + Duration::hours(24);
        let plain_local_day = plain.with_timezone(&self.zone).date_naive();
        let arrives_off_hours = matches!(
            local_received.weekday(),
            Weekday::Fri | Weekday::Sat | Weekday::Sun
        ) || !self.is_working_day(local_received);
        if arrives_off_hours || !self.is_working_day(plain_local_day) {
            self.end_of_day(self.next_working_day(local_received))
        } else {
            plain
        }
    }

    /// 23:59:59 local time on `day`, in UTC.
    fn end_of_day(&self, day: NaiveDate) -> DateTime<Utc> {
        let local = day.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"));
        self.zone
            .from_local_datetime(&local)
            .earliest()
            .expect("23:59:59 exists on every day in Europe/London")
            .with_timezone(&Utc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// 2026-11-16 is a Monday (GMT, no daylight saving).
    fn calendar() -> WorkingCalendar {
        WorkingCalendar::london(vec![day("2026-12-28"), day("2026-08-31")])
    }

    #[test]
    fn monday_to_thursday_requests_are_due_24_hours_later() {
        let cal = calendar();
        for received in [
            "2026-11-16T09:30:00Z",
            "2026-11-17T14:00:00Z",
            "2026-11-18T23:10:00Z",
            "2026-11-19T10:00:00Z",
        ] {
            let r = utc(received);
            assert_eq!(cal.contact_by(r), r + Duration::hours(24), "{received}");
        }
    }

    #[test]
    fn friday_requests_are_due_by_end_of_monday() {
        let cal = calendar();
        assert_eq!(
            cal.contact_by(utc("2026-11-20T09:00:00Z")),
            utc("2026-11-23T23:59:59Z")
        );
    }

    #[test]
    fn friday_evening_request_is_due_by_end_of_monday() {
        let cal = calendar();
        assert_eq!(
            cal.contact_by(utc("2026-11-20T21:45:00Z")),
            utc("2026-11-23T23:59:59Z")
        );
    }

    #[test]
    fn saturday_and_sunday_requests_are_due_by_end_of_monday() {
        let cal = calendar();
        assert_eq!(
            cal.contact_by(utc("2026-11-21T12:00:00Z")),
            utc("2026-11-23T23:59:59Z")
        );
        assert_eq!(
            cal.contact_by(utc("2026-11-22T08:00:00Z")),
            utc("2026-11-23T23:59:59Z")
        );
    }

    #[test]
    fn london_time_decides_the_day_not_utc() {
        // 23:30 UTC on Thursday 2 July 2026 is 00:30 on Friday in London (BST).
        let cal = calendar();
        assert_eq!(
            cal.contact_by(utc("2026-07-02T23:30:00Z")),
            // Monday 6 July 23:59:59 BST = 22:59:59 UTC.
            utc("2026-07-06T22:59:59Z")
        );
    }

    #[test]
    fn friday_before_a_bank_holiday_monday_is_due_by_end_of_tuesday() {
        let cal = calendar();
        // Friday 28 August 2026; Monday 31 August is the summer bank holiday.
        assert_eq!(
            cal.contact_by(utc("2026-08-28T10:00:00Z")),
            utc("2026-09-01T22:59:59Z")
        );
    }

    #[test]
    fn request_on_a_bank_holiday_monday_is_due_by_end_of_tuesday() {
        let cal = calendar();
        assert_eq!(
            cal.contact_by(utc("2026-12-28T10:00:00Z")),
            utc("2026-12-29T23:59:59Z")
        );
    }

    #[test]
    fn request_whose_24_hours_end_on_a_bank_holiday_moves_to_the_next_working_day() {
        // Sunday 27 December... use Thursday 24 Dec: Friday 25 Dec is not configured here,
        // so configure it and check the move.
        let cal = WorkingCalendar::london(vec![day("2026-12-25"), day("2026-12-28")]);
        // Thursday 24 December 2026, 10:00: 24 hours end on Christmas Day.
        assert_eq!(
            cal.contact_by(utc("2026-12-24T10:00:00Z")),
            utc("2026-12-29T23:59:59Z")
        );
    }
}
