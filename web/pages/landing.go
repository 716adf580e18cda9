package pages

import (
	"net/http"

	"github.com/mynagate/mynagate/web/ui"
)

func (pg *Pages) landing(w http.ResponseWriter, r *http.Request) {
	pg.render(w, r, "landing.html", http.StatusOK, &ui.Page{Data: pg.cfg.Demo})
}
