package ticket

import (
	"context"
	"fmt"
)

// Holder is what an organiser sees of a ticket's holder: the name (to compare with the card at
// the entry lane), the seat and the ticket's state. Nothing else about the person.
type Holder struct {
	Ticket   string `json:"ticket"`
	Name     string `json:"name"`
	Seat     string `json:"seat"`
	Status   string `json:"status"`
	Reverify bool   `json:"needs_reverification"`
	Admitted bool   `json:"admitted"`
}

// ownEvent reads an event of organiser o.
func (s *Service) ownEvent(ctx context.Context, o *Organiser, eventID string) (*Event, error) {
	ev, err := s.Event(ctx, eventID)
	if err != nil {
		return nil, err
	}
	if ev.Organiser != o.ID {
		return nil, errf(KindNotFound, "not-found", "no event %q of this organiser", eventID)
	}
	return ev, nil
}

// Holders lists the tickets of an event with their holders' names.
func (s *Service) Holders(ctx context.Context, o *Organiser, eventID string) ([]Holder, error) {
	if _, err := s.ownEvent(ctx, o, eventID); err != nil {
		return nil, err
	}
	rows, err := s.db.r.QueryContext(ctx, ticketSelect+`WHERE t.event_id = $1 ORDER BY c.name, t.seat_no`, eventID)
	if err != nil {
		return nil, fmt.Errorf("ticket: holders: %w", err)
	}
	ts, err := scanTickets(rows)
	if err != nil {
		return nil, err
	}
	out := []Holder{}
	for _, t := range ts {
		out = append(out, Holder{Ticket: t.ID, Name: t.HolderName, Seat: t.Seat, Status: t.Status, Reverify: t.Reverify, Admitted: t.AdmittedAt != nil})
	}
	return out, nil
}
